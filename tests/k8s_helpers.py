"""Shared by the Kubernetes tests: requests with a token, watch reading, a PKI like k3s'."""

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


# -- a PKI like k3s': a server CA, a client CA, certificates (openssl) ----------------------


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=d)  # fmt: skip


def make_cert(d, name, subject, ca, san=None):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", subject, cwd=d)  # fmt: skip
    ext = ["-extfile", f"{name}.ext"] if san else []
    if san:
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)  # fmt: skip


def make_pki(d):
    """server-ca signs the server's certificate (127.0.0.1, localhost); client-ca signs
    the users': agent (CN=blinkt-agent), admin (system:masters); other-ca a stranger's."""
    for ca in ("server-ca", "client-ca", "other-ca"):
        make_ca(d, ca)
    make_cert(d, "server", "/CN=k3s", "server-ca", "IP:127.0.0.1,DNS:localhost")
    make_cert(d, "agent", "/O=blinkt/O=leds/CN=blinkt-agent", "client-ca")
    make_cert(d, "admin", "/O=system:masters/CN=system:admin", "client-ca")
    make_cert(d, "stranger", "/CN=stranger", "other-ca")
    return d
