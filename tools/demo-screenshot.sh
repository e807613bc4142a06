#!/usr/bin/env bash
# The README's picture: the real `blinkt-agent demo` in tmux at 80 columns,
# captured with its colours (docs/demo.ansi) and rendered to docs/demo.png.
#
#   tools/demo-screenshot.sh            # or: make screenshot
#   AT=25 COLUMNS=60 tools/demo-screenshot.sh
#
# AT: seconds into the demo's story when the pane is captured (default 19:
# allocations pending, running and one failed). Needs tmux, the venv with the
# docs extra (Pillow) and fonts-dejavu-core.
set -euo pipefail
cd "$(dirname "$0")/.."
AT=${AT:-19}
COLUMNS=${COLUMNS:-80}
ROWS=${ROWS:-24}
OUT=${OUT:-docs/demo}
BIN=${BIN:-.venv/bin}

command -v tmux >/dev/null || { echo "demo-screenshot: tmux is not installed: apt install tmux" >&2; exit 1; }
# A private tmux server: the user's own sessions and ~/.tmux.conf stay out of it.
socket=blinkt-screenshot-$$
tmux_() { tmux -L "$socket" -f /dev/null "$@"; }
trap 'tmux_ kill-server 2>/dev/null || true' EXIT

# The pane keeps the demo's last screen after it ends (remain-on-exit).
tmux_ new-session -d -s demo -x "$COLUMNS" -y "$ROWS" \
    "env TERM=tmux-256color COLORTERM=truecolor $BIN/blinkt-agent demo --duration $((AT + 5))"
tmux_ set-option -t demo remain-on-exit on >/dev/null
sleep "$AT"
tmux_ capture-pane -e -p -t demo >"$OUT.ansi"
"$BIN/python" -m tools.ansi_png --columns "$COLUMNS" "$OUT.ansi" "$OUT.png"
