#!/usr/bin/python3
"""Test harness only: run the shell scripts the host sends over the serial console.

The emulated Pi has no network; its first UART is the host's only way in. The
host writes one line per command, `@@C <id> <timeout s> <base64 script>`, and
gets back `@@R <id> <exit status> <base64 output>@@` (stdout and stderr merged;
status 124 when the script ran out of time). Base64 keeps kernel messages and
binary output from breaking the framing. Baked into the image (see image.sh).
"""

import base64
import os
import subprocess
import tempfile
import termios
import tty

TTY = "/dev/ttyAMA0"


def reply(fd: int, text: str) -> None:
    data = text.encode()
    while data:
        data = data[os.write(fd, data) :]


def run(script: str, timeout: float) -> tuple[int, bytes]:
    # From a file, not `sh -c`: one argument may not exceed 128 KiB (MAX_ARG_STRLEN),
    # and put() sends whole .deb files as here-documents.
    with tempfile.NamedTemporaryFile("w", prefix="serial-shell.", suffix=".sh") as file:
        file.write(script)
        file.flush()
        return run_file(file.name, timeout)


def run_file(path: str, timeout: float) -> tuple[int, bytes]:
    try:
        done = subprocess.run(
            ["/bin/sh", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        return 124, (err.output or b"") + f"\n(timed out after {timeout:g} s)\n".encode()
    return done.returncode, done.stdout


def main() -> None:
    fd = os.open(TTY, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)  # no echo, no line editing, no CR/LF translation
    termios.tcflush(fd, termios.TCIFLUSH)
    reply(fd, "\n@@READY@@\n")
    pending = b""
    while True:
        pending += os.read(fd, 65536)
        *lines, pending = pending.split(b"\n")
        for line in lines:
            fields = line.strip().split(b" ")
            if len(fields) != 4 or fields[0] != b"@@C":
                continue  # noise, e.g. a half line from before the host connected
            ident, timeout, script = fields[1].decode(), float(fields[2]), fields[3]
            status, output = run(base64.b64decode(script).decode(), timeout)
            reply(fd, f"\n@@R {ident} {status} {base64.b64encode(output).decode()}@@\n")


if __name__ == "__main__":
    main()
