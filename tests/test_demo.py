"""`blinkt-agent demo`: the real pipeline against the in-process simulator, end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

from blinkt_agent import mapping

ROOT = Path(__file__).resolve().parents[1]


def test_demo_tells_the_whole_story_and_ends_dark():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "BLINKT_"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "blinkt_agent", "demo", "--display", "json", "--speed", "12",
         "--duration", "9"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frames = [
        tuple((p["r"], p["g"], p["b"], p["brightness"]) for p in json.loads(line)["pixels"])
        for line in result.stdout.splitlines()
    ]
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
    assert "demo: [" in result.stderr  # the story's steps are logged beside the JSON
