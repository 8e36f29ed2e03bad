#!/usr/bin/env bash
# Screenshots of the real binary: the demo board in tmux, captured with its colours,
# turned into HTML (ansi2html.py) and photographed by headless Chromium.
#
# usage: screenshots/make.sh [BIN]     (default: target/release/tablestat; needs tmux, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tablestat}
OUT=screenshots
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[[ -x $BIN ]] || { echo "build first: cargo build --release" >&2; exit 64; }
[[ -n $CHROMIUM ]] || { echo "needs chromium: apt-get install chromium" >&2; exit 69; }
WORK=$(mktemp -d)
SESSION=tablestat-shots-$$
cleanup() { tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# shot NAME COLS ROWS: capture the pane and render it at that size.
shot() {
  local name=$1 cols=$2 rows=$3
  tmux capture-pane -e -p -t "$SESSION" > "$WORK/$name.ansi"
  python3 "$OUT/ansi2html.py" "tablestat: $name" < "$WORK/$name.ansi" > "$WORK/$name.html"
  local width=$((cols * 9 + 28)) height=$((rows * 19 + 24))
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$WORK/chrome" --hide-scrollbars \
    --window-size="$width,$height" --screenshot="$PWD/$OUT/$name.png" "file://$WORK/$name.html" >/dev/null 2>&1
  echo "wrote $OUT/$name.png"
}

# wait_for TEXT: until the screen shows it (20 s at most).
wait_for() {
  for _ in $(seq 200); do
    tmux capture-pane -p -t "$SESSION" | grep -qF "$1" && return 0
    sleep 0.1
  done
  echo "never saw: $1" >&2
  tmux capture-pane -p -t "$SESSION" >&2
  return 1
}

keys() { for k in "$@"; do tmux send-keys -t "$SESSION" "$k"; sleep 0.3; done; }

# The story at speed 3 reaches "a unique test fails" after ~7 s, maintenance after ~20 s.
tmux new-session -d -s "$SESSION" -x 120 -y 32 "TERM=xterm-256color $BIN demo --speed 3 --seed 7 --export $WORK/page"
wait_for "WHY"
wait_for "Maintenance until"
sleep 1
shot list 120 32
# The static status page the demo's poller keeps, at the same moment.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$WORK/chrome" --hide-scrollbars \
  --window-size=1000,1500 --screenshot="$PWD/$OUT/status-page.png" "file://$WORK/page/index.html" >/dev/null 2>&1
echo "wrote $OUT/status-page.png"
keys Home Enter
wait_for "metrics · uptime"
sleep 0.5
shot detail 120 32
keys Escape i
wait_for "incidents ·"
keys Enter
wait_for "time to detect"
shot incident 120 32
keys Escape Escape m
wait_for "active and upcoming"
shot maintenance 120 32
keys Escape
tmux resize-window -t "$SESSION" -x 80 -y 24
sleep 1
shot list-80x24 80 24
keys q
