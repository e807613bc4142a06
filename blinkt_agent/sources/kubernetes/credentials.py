"""Credentials for the Kubernetes API: where it is, how to trust it, who we are.

kubeconfig.py builds them (from a kubeconfig file or a pod's service account); the HTTP
client uses them. Secrets (the token, a client key) never appear in a repr or a message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from blinkt_agent.errors import ConfigError

# client-go transport/token_source.go NewCachedFileTokenSource: a token read from a file
# is used for a minute ("half of the duration between when the kubelet refreshes a
# projected service account token and when the original token expires") less 10 s of
# leeway, then the file is read again.
TOKEN_PERIOD = 60.0
TOKEN_LEEWAY = 10.0


@dataclass(frozen=True)
class Credentials:
    """How to reach and authenticate to one API server.

    server: the base URL ("https://127.0.0.1:6443"). Trust: ca_file (a PEM bundle's path)
    or ca_data (inline PEM bytes), else the system's CAs; skip_verify turns verification
    off (never by default); server_name: the name to verify the certificate against
    instead of the URL's host (tls-server-name). Identity: token, a callable giving the
    bearer token to send now (it may re-read a file: see FileToken), and/or a client
    certificate and key, as files or inline PEM. namespace: the context's (or the pod's)
    namespace. source: where these came from, for messages.
    """

    server: str
    ca_file: str = ""
    ca_data: bytes = field(default=b"", repr=False)
    skip_verify: bool = False
    server_name: str = ""
    token: Callable[[], str] | None = field(default=None, repr=False)
    client_cert_file: str = ""
    client_key_file: str = ""
    client_cert_data: bytes = field(default=b"", repr=False)
    client_key_data: bytes = field(default=b"", repr=False)
    namespace: str = "default"
    source: str = ""

    def tls_files(self, tmp_root: str | None = None) -> TLSFiles:
        """The `verify` and `cert` arguments requests needs, with inline PEM written to
        private files; close() (or leaving the `with` block) removes them."""
        return TLSFiles(self, tmp_root)


class TLSFiles:
    """requests and Python's ssl take a CA bundle and a client certificate and key only as
    files: inline PEM goes to a fresh private directory (0700, files 0600), removed by
    close(). verify: a CA file, True (the system's CAs) or False (skip_verify); cert:
    (certificate file, key file) or None."""

    verify: bool | str
    cert: tuple[str, str] | None

    def __init__(self, credentials: Credentials, tmp_root: str | None = None) -> None:
        self._dir: str | None = None
        self._tmp_root = tmp_root
        try:
            self.verify = self._verify(credentials)
            self.cert = self._cert(credentials)
        except BaseException:
            self.close()
            raise

    @property
    def directory(self) -> str | None:
        """The private directory, None when nothing had to be written."""
        return self._dir

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> TLSFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _verify(self, credentials: Credentials) -> bool | str:
        if credentials.skip_verify:
            return False
        if credentials.ca_data:
            return self._write("ca.crt", credentials.ca_data)
        return credentials.ca_file or True

    def _cert(self, credentials: Credentials) -> tuple[str, str] | None:
        cert = credentials.client_cert_file
        key = credentials.client_key_file
        if credentials.client_cert_data:
            cert = self._write("client.crt", credentials.client_cert_data)
        if credentials.client_key_data:
            key = self._write("client.key", credentials.client_key_data)
        return (cert, key) if cert and key else None

    def _write(self, name: str, data: bytes) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="blinkt-agent-k8s-", dir=self._tmp_root)
        path = os.path.join(self._dir, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return path


class FileToken:
    """A bearer token read from a file, and read again as client-go's cached file token
    source does: a token read at time t is used until t + period - leeway (50 s), then
    the file is read again; a failed re-read keeps the previous token (client-go logs
    "Unable to rotate token"); reset_if_read_before(t) drops a token read before t, as
    client-go does after a 401 to a request started at t. fallback: a token to use while
    the file cannot be read (kubeconfig `token` beside `tokenFile`).

    The first call raises ConfigError when there is no token at all (naming the file and
    the setting, never the token). clock: monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        setting: str,
        fallback: str = "",
        clock: Callable[[], float] = time.monotonic,
        period: float = TOKEN_PERIOD,
        leeway: float = TOKEN_LEEWAY,
    ) -> None:
        self.path = Path(path)
        self._setting = setting
        self._fallback = fallback
        self._clock = clock
        self._fresh_for = period - leeway
        self._lock = threading.Lock()
        self._token = ""
        self._read_at: float | None = None

    def __repr__(self) -> str:
        return f"FileToken({str(self.path)!r})"

    def __call__(self) -> str:
        now = self._clock()
        with self._lock:
            if self._read_at is not None and now < self._read_at + self._fresh_for:
                return self._token
            try:
                self._token = self._read()
                self._read_at = now
            except ConfigError:
                if self._token:
                    return self._token  # keep the last good one, as client-go does
                if self._fallback:
                    return self._fallback
                raise
            return self._token

    def reset_if_read_before(self, when: float) -> None:
        with self._lock:
            if self._read_at is not None and self._read_at < when:
                self._read_at = None

    def _read(self) -> str:
        try:
            text = self.path.read_bytes().decode("utf-8")
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise ConfigError(
                f"{self._setting}: cannot read {_shown(self.path)}: {reason}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{self._setting}: {_shown(self.path)} is not UTF-8 text") from None
        token = text.strip()
        if not token:
            raise ConfigError(f"{self._setting}: {_shown(self.path)} is empty (no token)")
        if not token.isprintable():
            raise ConfigError(
                f"{self._setting}: {_shown(self.path)}: the token has a control character"
            )
        return token


def static_token(token: str) -> Callable[[], str]:
    """A token that never changes (kubeconfig `token`), hidden from repr."""

    def supply() -> str:
        return token

    return supply


def _shown(path: object) -> str:
    text = str(path)
    return text if text.isprintable() else repr(text)
