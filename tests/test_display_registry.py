"""The displays' registry is the one place a display is named: config, the CLI, the
reload and the commands read it; each display's library is imported only when it opens."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from blinkt_agent import config
from blinkt_agent.cli import _parser
from blinkt_agent.displays import (
    DISPLAY_NAMES,
    DISPLAYS,
    HARDWARE_NAMES,
    kind_of,
    open_display,
    reopen_keys,
)
from blinkt_agent.errors import EXIT_IOERR, ConfigError

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("RPi", "spidev", "usb")


def test_the_display_setting_offers_exactly_the_registry():
    key = next(k for k in config.SCHEMA if k.dotted == "display")
    assert key.check is not None and key.check.options == DISPLAY_NAMES  # type: ignore[attr-defined]


def test_every_display_section_is_a_settings_section():
    sections = {key.section for key in config.SCHEMA}
    assert {kind.section for kind in DISPLAYS.values()} <= sections


def test_the_command_line_help_names_every_display_with_its_summary():
    text = _parser().format_help()
    assert all(f"  {kind.name:16}{kind.summary}" in text for kind in DISPLAYS.values())
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("name", DISPLAY_NAMES)
def test_every_display_module_has_its_opener_and_imports_no_library(name):
    module, _, function = DISPLAYS[name].opener.partition(":")
    code = (
        f"import sys, {module} as m; assert callable(m.{function}); "
        f"print([n for n in {LIBRARIES!r} if n in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


def test_an_unknown_display_is_a_config_error_naming_the_setting():
    with pytest.raises(ConfigError, match="display = 'lcd': expected one of blinkt, traffic"):
        kind_of("lcd")


def test_a_changed_pin_of_the_shown_display_reopens_it_and_other_settings_do_not():
    traffic = config.override(config.defaults(), {"display": "traffic"})
    assert "traffic.red_pin" in reopen_keys(traffic)
    assert "blinkt.data_pin" not in reopen_keys(traffic) and "brightness" not in reopen_keys(
        traffic
    )


@pytest.mark.parametrize("name", HARDWARE_NAMES)
def test_the_terminal_draws_each_displays_own_shape(name):
    settings = config.override(config.defaults(), {"terminal.looks_like": name})
    assert open_display(settings, "terminal").shape == DISPLAYS[name].shape


def cli(*args):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "blinkt_agent", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        cwd=ROOT,
    )


@pytest.mark.parametrize("name", HARDWARE_NAMES)
def test_a_display_without_its_library_is_one_line_naming_the_package_exit_74(name):
    package = DISPLAYS[name].packages[0].split(" | ")[0]
    result = cli("--display", name, "--nomad-addr", "http://127.0.0.1:9", "once")
    assert result.returncode == EXIT_IOERR
    assert result.stderr.count("\n") == 1 and package in result.stderr, result.stderr
    assert f"display = {name}" in result.stderr


def test_clear_with_the_json_display_writes_one_dark_frame():
    result = cli("--display", "json", "clear")
    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    assert len(json.loads(line)["pixels"]) == 8


def test_json_in_the_shape_of_the_unicorn_hat_hd_says_its_size(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('display = "json"\n[json]\nlooks_like = "unicornhathd"\n')
    result = cli("--config", str(path), "clear")
    frame = json.loads(result.stdout)
    assert (frame["width"], frame["height"], len(frame["pixels"])) == (16, 16, 256)


def test_no_display_module_is_imported_by_loading_the_config():
    config_module = importlib.import_module("blinkt_agent.config")
    assert config_module.defaults()["display"] == "blinkt"
    code = (
        "import sys, blinkt_agent.config; "
        "print(sorted(m for m in sys.modules if m.startswith('blinkt_agent.displays.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
