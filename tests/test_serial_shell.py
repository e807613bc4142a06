"""The emulated Pi's serial shell (tests/pi/guest/serial-shell.py) runs scripts of any size.

It runs inside the guest, but it is plain Python: load it here and run scripts
as the host's put() sends them, a whole .deb as a here-document.
"""

import base64
import importlib.util
from pathlib import Path
from types import ModuleType

GUEST = Path(__file__).parent / "pi" / "guest" / "serial-shell.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serial_shell", GUEST)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_script_larger_than_one_argument_still_runs(tmp_path: Path) -> None:
    # 400 KiB of payload: well over MAX_ARG_STRLEN (128 KiB), as a .deb is.
    data = bytes(range(256)) * 1600
    target = tmp_path / "file.deb"
    encoded = base64.encodebytes(data).decode()
    script = f"base64 -d > {target} <<'EOF'\n{encoded}EOF\nwc -c < {target}"
    status, output = load().run(script, 30)
    assert (status, output.strip()) == (0, str(len(data)).encode())
    assert target.read_bytes() == data


def test_exit_status_output_and_timeout_come_back() -> None:
    shell = load()
    assert shell.run("echo out; echo err >&2; exit 3", 10) == (3, b"out\nerr\n")
    status, output = shell.run("sleep 5", 0.5)
    assert status == 124 and b"timed out after 0.5 s" in output
