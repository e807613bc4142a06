"""What the sources' HTTP clients share: TLS server names and short reasons for failures."""

from __future__ import annotations

from typing import Any

from requests.adapters import HTTPAdapter


class ServerNameAdapter(HTTPAdapter):
    """Verify the certificate against another name than the host we dial (Nomad's
    NOMAD_TLS_SERVER_NAME, a kubeconfig's tls-server-name)."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        kwargs["assert_hostname"] = self._server_name
        # (types-requests leaves HTTPAdapter.init_poolmanager unannotated)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[no-untyped-call]


def reason(err: Exception) -> str:
    """A short human reason from requests' nested exception chain."""
    text = str(err)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
        ("doesn't match", "TLS certificate name mismatch"),
        ("Read timed out", "no answer (read timeout)"),
        ("timed out", "connection timed out"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "connection closed by the server"),
        ("ended prematurely", "connection closed by the server"),
        ("Connection broken", "connection closed by the server"),
    ):
        if needle in text:
            return reason
    return type(err).__name__
