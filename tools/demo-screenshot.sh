#!/usr/bin/env bash
# The README's pictures: the real `blinkt-agent demo` in tmux at 80 columns,
# captured with its colours (OUT.ansi) and rendered to OUT.png.
#
#   tools/demo-screenshot.sh            # docs/demo.png (or: make screenshot)
#   AT=25 COLUMNS=60 tools/demo-screenshot.sh
#   ARGS="--display unicornhathd --terminal" OUT=docs/display-unicornhathd tools/demo-screenshot.sh
#   tools/demo-screenshot.sh --displays # every docs/display-*.png of README's "Displays"
#
# AT: seconds into the demo's story when the pane is captured (default 19:
# allocations pending, running and one failed). ARGS: more arguments for
# `blinkt-agent demo` (default none: the Blinkt! drawn in the terminal);
# `--terminal` draws a display's shape even on a Pi that has it. Needs tmux,
# the venv with the docs extra (Pillow) and fonts-dejavu-core.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--displays" ]; then
    # Each display at a moment of its story that shows most of its legend, side by side;
    # fails if any of them does.
    shot() { OUT="docs/display-$1" AT="$2" ARGS="--display $3 --terminal --mode $4" ROWS="${5:-24}" tools/demo-screenshot.sh; }
    pids=()
    shot blinkt 36 blinkt allocations & pids+=($!)              # 10 allocations: 7 and the overflow LED
    shot traffic 19 traffic allocations & pids+=($!)            # api[1] failed: red
    shot blinkstick 29 blinkstick allocations & pids+=($!)      # web[2] stopping: amber
    shot unicornhathd 36 unicornhathd allocations & pids+=($!)  # 10 allocations in 3x3 blocks
    shot unicornhathd-nodes 53 unicornhathd nodes & pids+=($!)  # 4 Pis: one drained, one down
    shot unicornhatmini 53 unicornhatmini nodes 16 & pids+=($!) # the same on 17x7
    for pid in "${pids[@]}"; do wait "$pid"; done
    exit
fi

AT=${AT:-19}
COLUMNS=${COLUMNS:-80}
ROWS=${ROWS:-24}
OUT=${OUT:-docs/demo}
BIN=${BIN:-.venv/bin}
ARGS=${ARGS:-}

command -v tmux >/dev/null || { echo "demo-screenshot: tmux is not installed: apt install tmux" >&2; exit 1; }
# A private tmux server: the user's own sessions and ~/.tmux.conf stay out of it.
socket=blinkt-screenshot-$$
tmux_() { tmux -L "$socket" -f /dev/null "$@"; }
trap 'tmux_ kill-server 2>/dev/null || true' EXIT

# The pane keeps the demo's last screen after it ends (remain-on-exit).
tmux_ new-session -d -s demo -x "$COLUMNS" -y "$ROWS" \
    "env TERM=tmux-256color COLORTERM=truecolor $BIN/blinkt-agent demo $ARGS --duration $((AT + 5))"
tmux_ set-option -t demo remain-on-exit on >/dev/null
sleep "$AT"
tmux_ capture-pane -e -p -t demo >"$OUT.ansi"
"$BIN/python" -m tools.ansi_png --columns "$COLUMNS" "$OUT.ansi" "$OUT.png"
