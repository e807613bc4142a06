"""Shared by the tests of blinkt_agent.sim.kubernetes and of deploy/kubernetes: requests
with a token, watch reading, certificates."""

import json
import subprocess
import time

import requests


def get(sim, path, token=None, **params):
    """GET an API path as the admin (or with the given token)."""
    headers = {"Authorization": f"Bearer {token or sim.admin_token}"}
    return requests.get(sim.url + path, params=params, headers=headers, timeout=5)


class Watch:
    """A watch request read line by line as the events come."""

    def __init__(self, sim, path="/api/v1/pods", token=None, **params):
        params.setdefault("watch", "1")
        headers = {"Authorization": f"Bearer {token or sim.admin_token}"}
        self.response = requests.get(
            sim.url + path, params=params, headers=headers, stream=True, timeout=10
        )
        self._lines = self.response.iter_lines()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.response.close()

    def next(self):
        """The next event as (type, object)."""
        event = json.loads(next(self._lines))
        return event["type"], event["object"]

    def take(self, n):
        return [self.next() for _ in range(n)]

    def rest(self):
        """Every event until the server ends the stream, and how long that took."""
        start = time.monotonic()
        events = [(e["type"], e["object"]) for e in map(json.loads, self._lines)]
        return events, time.monotonic() - start


def rv(doc):
    return int(doc["metadata"]["resourceVersion"])


# -- certificates, made by openssl as a k3s server has them ---------------------------------


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    """`name`.pem and `name`.key: a self-signed CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=directory)  # fmt: skip


def make_cert(directory, name, subject, ca, san=None):
    """`name`.pem and `name`.key signed by the CA `ca`; san like "IP:127.0.0.1"."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", subject, cwd=directory)  # fmt: skip
    ext = ["-extfile", f"{name}.ext"] if san else []
    if san:
        (directory / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext,
            cwd=directory)  # fmt: skip
