"""`blinkt-agent demo`: the real pipeline against the in-process simulator, end to end,
and the screen it leaves in a real terminal (tmux), as a person sees it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blinkt_agent import mapping
from blinkt_agent.layout import OVERLOAD_COLOUR
from blinkt_agent.layout.strip import bar_colours
from tests.screen import (
    DARK_ROW,
    SGR_COLOUR,
    Tmux,
    agent_env,
    blinkt_agent_argv,
    led_rows,
    run_on_a_pty,
)

NOTE = re.compile(r"^\[ *\d+\.\d s\] ")


def run_json_demo(*args):
    result = subprocess.run(
        blinkt_agent_argv("demo", "--display", "json", *args),
        env=agent_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frames = [
        tuple((p["r"], p["g"], p["b"], p["brightness"]) for p in json.loads(line)["pixels"])
        for line in result.stdout.splitlines()
    ]
    return frames, result.stderr


def test_demo_tells_the_whole_story_and_ends_dark():
    frames, stderr = run_json_demo("--speed", "12", "--duration", "9")
    palette = mapping.Palette.default()
    lit = [[(r, g, b) for r, g, b, level in frame if level > 0] for frame in frames]
    assert any(palette.failed in leds for leds in lit)  # one job fails
    assert any(palette.stopping in leds for leds in lit)  # one is stopped
    assert any(len(leds) == 8 and leds[7] == palette.overflow for leds in lit)  # > 8 allocations
    unreachable = mapping.status_frame("unreachable", 0.5)
    assert any(
        frame == tuple((p.r, p.g, p.b, p.brightness) for p in unreachable) for frame in frames
    )
    assert any(
        0 < levels < 8 for levels in (sum(1 for *_, lv in f if 0 < lv < 0.5) for f in frames)
    )
    assert lit[-1] == []  # Ctrl-C / --duration leave the LEDs dark
    assert "demo: [" in stderr  # the story's steps are logged beside the JSON
    assert "INFO demo: green running, blue pending, amber stopping, red failed" in stderr
    assert "Ctrl-C to stop" in stderr.splitlines()[0]  # the legend comes first


def test_demo_mode_flag_is_honoured_and_the_story_keeps_it():
    frames, stderr = run_json_demo("--mode", "memory", "--speed", "12", "--duration", "5")
    patterns = {
        tuple((p.r, p.g, p.b, p.brightness) for p in mapping.status_frame(kind, 0.5))
        for kind in mapping.STATUS_KINDS
    }
    bars = [frame for frame in frames if frame not in patterns]
    assert any(level > 0 for frame in bars for *_, level in frame)
    for frame in bars:  # every lit LED is the bar's colour at its place: never an allocation
        for led, (r, g, b, level) in enumerate(frame):
            assert level == 0 or (r, g, b) in (bar_colours(8)[led], OVERLOAD_COLOUR)
    assert "CPU view" not in stderr and "Memory view" not in stderr
    assert "Job api placed" in stderr  # the story itself goes on


def test_the_kubernetes_demo_plays_its_k3s_story_through_the_real_pipeline():
    frames, stderr = run_json_demo("--source", "kubernetes", "--speed", "12", "--duration", "8")
    palette = mapping.Palette.default()
    lit = [[(r, g, b) for r, g, b, level in frame if level > 0] for frame in frames]
    assert any(palette.failed in leds for leds in lit)  # CrashLoopBackOff
    assert any(palette.stopping in leds for leds in lit)  # a pod Terminating
    assert any(len(leds) == 8 and leds[7] == palette.overflow for leds in lit)  # > 8 pods
    assert "CrashLoopBackOff" in stderr and "API server is unreachable" in stderr
    assert re.search(r"node pi-01: \d+ pods \(", stderr)  # STATUS speaks of pods
    assert lit[-1] == []


@pytest.mark.parametrize("source", ["nomad", "kubernetes"])
def test_the_cluster_demo_shows_one_led_per_pi(source):
    frames, stderr = run_json_demo("--source", source, "--mode", "nodes", "--speed", "12",
                                   "--duration", "7")  # fmt: skip
    palette = mapping.Palette.default()
    lit = [[(r, g, b) for r, g, b, level in frame if level > 0] for frame in frames]
    assert max(len(leds) for leds in lit) == 4  # four Pis, whatever runs on them
    assert any(palette.cordoned in leds for leds in lit)  # drained / cordoned
    assert any(leds[3:4] == [palette.lost] for leds in lit)  # pi-04 down (magenta)
    assert re.search(r"cluster: 4 nodes \(", stderr)
    assert "yellow cordoned" in stderr  # the legend names the cluster view's colours
    assert lit[-1] == []


# --- in a real terminal -------------------------------------------------------------


def story_reached(title):
    return lambda rows: any(title in row for row in rows)


@pytest.mark.parametrize("columns", [80, 60])
def test_demo_in_a_terminal_keeps_one_led_row_that_fits(columns):
    tmux = Tmux(blinkt_agent_argv("demo", "--speed", "4"), columns)
    try:
        rows = tmux.wait_for(story_reached("api[1] failed"))
        coloured = tmux.rows(colours=True)
        tmux.keys("C-c")
        status = tmux.exit_status()
        final = tmux.rows()
    finally:
        tmux.kill()
    legend, *notes, leds = rows
    assert legend.startswith("\u25cf running  \u25cf pending  \u25cf stopping  \u25cf failed")
    assert legend.endswith("   Ctrl-C to stop") and len(legend) < columns
    assert SGR_COLOUR.search(coloured[0])  # the legend's LEDs are in colour
    assert notes and all(NOTE.match(note) for note in notes)  # no left-over LED rows
    assert led_rows(rows) == [leds]  # exactly one LED row, the last one
    assert "  node pi-01: " in leds and len(leds) < columns  # the status, cut to fit
    # Nothing wrapped: a wrapped line fills its first row to the last column.
    assert all(len(row) < columns for row in rows)
    assert SGR_COLOUR.search(coloured[-1])
    assert status == 0
    assert final[-1] == DARK_ROW and led_rows(final) == [DARK_ROW]  # dark, status cleared


def test_demo_follows_a_resize_of_the_terminal():
    # At a tenth of the speed the first step lasts 30 s: only SIGWINCH can redraw the row.
    tmux = Tmux(blinkt_agent_argv("demo", "--speed", "0.1"), 80)
    try:
        before = tmux.wait_for(lambda rows: "node pi-01: no allocations" in rows[-1])
        tmux.resize(44)
        narrow = tmux.wait_for(
            lambda rows: len(rows[-1]) <= 43 and ends_with_the_led_row(rows), timeout=5
        )
        narrow_joined = tmux.rows(joined=True)
        tmux.resize(100)
        wide = tmux.wait_for(
            lambda rows: len(rows[-1]) > 43 and ends_with_the_led_row(rows), timeout=5
        )
    finally:
        tmux.kill()
    assert led_rows(before) == [before[-1]] and len(before[-1]) >= 44
    assert led_rows(narrow) == [narrow[-1]] and narrow[-1].endswith("\u2026")
    # Nothing is left of the wider row: no fragment of it on a row of its own.
    assert not [row for row in narrow if "127.0." in row and row != narrow[-1]]
    assert narrow_joined[-1] == narrow[-1]  # the LED row is one row, not wrapped
    assert led_rows(wide) == [wide[-1]] and len(wide[-1]) < 100


def ends_with_the_led_row(rows):
    return bool(rows) and led_rows(rows[-1:]) == rows[-1:]


def test_no_color_in_a_terminal_reads_as_letters():
    tmux = Tmux(blinkt_agent_argv("demo", "--speed", "4"), 80, env=agent_env(NO_COLOR="1"))
    try:
        # Four running, then the failed one in red: read as letters.
        rows = tmux.wait_for(lambda rows: re.match(r"^G G G G R [\u00b7GBA] ", rows[-1]))
        coloured = tmux.rows(colours=True)
    finally:
        tmux.kill()
    assert rows[0].startswith("G running  B pending  A stopping  R failed  C overflow")
    assert not any(SGR_COLOUR.search(row) for row in coloured)


def test_term_dumb_gets_no_escape_at_all():
    output, code = run_on_a_pty(
        blinkt_agent_argv("demo", "--speed", "12", "--duration", "4"),
        agent_env(TERM="dumb", COLUMNS="60"),
    )
    assert code == 0
    assert "\x1b" not in output and "\r" not in output.replace("\r\n", "\n")
    lines = output.replace("\r\n", "\n").splitlines()
    assert "Ctrl-C to stop" in lines[0]
    assert len(led_rows(lines)) > 5 and all(len(line) < 60 for line in lines)
    assert lines[-1] == DARK_ROW


def test_no_color_keeps_cursor_control_but_no_colour():
    output, code = run_on_a_pty(
        blinkt_agent_argv("demo", "--speed", "12", "--duration", "3"),
        agent_env(TERM="xterm-256color", NO_COLOR="1"),
    )
    assert code == 0
    assert "\x1b[J" in output and not SGR_COLOUR.search(output)


def test_the_demo_runs_from_the_installed_command():
    # `make demo` runs .venv/bin/blinkt-agent demo: the entry point, not `python -m`.
    script = Path(sys.executable).parent / "blinkt-agent"
    if not script.exists():
        pytest.skip(f"{script} is not installed (make venv installs it)")
    output, code = run_on_a_pty([str(script), "demo", "--speed", "12", "--duration", "2"],
                                agent_env(TERM="dumb"))  # fmt: skip
    assert code == 0 and "Ctrl-C to stop" in output


@pytest.mark.parametrize("display", ["terminal", "json"])
def test_a_reader_that_goes_away_ends_the_demo_with_one_line(display):
    proc = subprocess.Popen(
        blinkt_agent_argv("demo", "--display", display, "--speed", "12", "--duration", "10"),
        env=agent_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `blinkt-agent demo | head -1` does
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 74, stderr
    assert "Traceback" not in stderr and "Exception" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "broken pipe" in errors[0].lower()


# --- the other displays, drawn in the terminal where they are not present --------------------

MATRIX_ROW = re.compile(r"^[\u25cf\u00b7]( [\u25cf\u00b7])+")


def test_the_unicorn_hat_hd_demo_draws_a_16_by_16_grid_in_80_columns():
    argv = blinkt_agent_argv("demo", "--display", "unicornhathd", "--speed", "4")
    tmux = Tmux(argv, 80, rows=30, env=agent_env())
    try:
        rows = tmux.wait_for(story_reached("web[1] is running"))
        tmux.keys("C-c")
        status = tmux.exit_status()
        final = tmux.rows()
    finally:
        tmux.kill()
    assert any("drawn in the terminal: display = unicornhathd" in row for row in rows)
    grid = [match[0] for row in rows if (match := MATRIX_ROW.match(row))]
    assert len(grid) == 16 and all(len(leds.split()) == 16 for leds in grid)
    first = next(row for row in rows if MATRIX_ROW.match(row))
    assert "  node pi-01: " in first and all(len(row) < 80 for row in rows if MATRIX_ROW.match(row))
    assert sum(row.count("\u25cf") for row in grid) >= 9  # a 3x3 block per allocation
    assert status == 0
    assert all(set(row.replace(" ", "")) == {"\u00b7"} for row in final[-16:])  # dark


@pytest.mark.parametrize(("display", "width", "height"), [("unicornhatmini", 17, 7),
                                                          ("traffic", 3, 1),
                                                          ("blinkstick", 8, 1)])  # fmt: skip
def test_each_display_can_be_drawn_in_its_own_shape_on_request(display, width, height):
    result = subprocess.run(
        blinkt_agent_argv("demo", "--display", display, "--terminal", "--speed", "12",
                          "--duration", "4"),
        env=agent_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    frames = [line.split("  ")[0].split() for line in lines if re.match(r"off|[0-9a-f]{6}@", line)]
    assert frames and all(len(leds) == width * height for leds in frames)
    assert "in the terminal" not in result.stdout + result.stderr  # asked for, not a fallback


def test_the_traffic_light_demo_legend_speaks_of_its_three_lights():
    result = subprocess.run(
        blinkt_agent_argv("demo", "--display", "traffic", "--terminal", "--speed", "12",
                          "--duration", "3"),
        env=agent_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.startswith("R failed  A pending or stopping  G all running")
