"""Notifications reach a real NOTIFY_SOCKET through sdnotify, as systemd reads them."""

import socket

import pytest

from blinkt_agent.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", path)  # read by sdnotify.SystemdNotifier()
    yield sock
    sock.close()


@pytest.mark.parametrize(
    "status",
    [
        "node pi-01: 3 allocations (3 running) via http://10.0.0.5:4646",
        # A Nomad error body cut to 120 characters ends in "…", which sdnotify's latin-1
        # encoding cannot take: the whole message used to be dropped in silence.
        "waiting for Nomad: HTTP 500 from /v1/node/x: " + "x" * 120 + "…",
        "node café: 1 allocation (1 running) via http://10.0.0.5:4646",
    ],
)
def test_status_arrives_as_utf8(notify_socket, status):
    notifier = Notifier(environ={})
    notifier.status(status)
    # sd_notify(3): "STATUS=… a single-line UTF-8 status string".
    assert notify_socket.recv(4096) == f"STATUS={status}".encode()


def test_ready_and_watchdog_arrive(notify_socket):
    notifier = Notifier(environ={"WATCHDOG_USEC": "3000000"})
    notifier.ready()
    notifier.watchdog()
    assert notify_socket.recv(4096) == b"READY=1"
    assert notify_socket.recv(4096) == b"WATCHDOG=1"


def test_status_from_outside_stays_one_assignment(notify_socket):
    notifier = Notifier(environ={})
    notifier.status("node pi-01\nWATCHDOG=1\r\tREADY=1: 0 allocations")
    assert notify_socket.recv(4096) == b"STATUS=node pi-01 WATCHDOG=1  READY=1: 0 allocations"
