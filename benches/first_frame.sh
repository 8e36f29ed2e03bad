#!/usr/bin/env bash
# The board from local data, whole process, in a real terminal (tmux): time from launch to
# the first frame showing the product list, and from a keypress (`?`, the help screen) to
# the screen showing it, while the board's poller is failing to reach Airflow. Includes
# tmux's own latency (send-keys, capture-pane: a few ms).
#
#   bash benches/first_frame.sh [PRODUCTS] [RUNS]     (defaults: 5000, 5)
set -euo pipefail

PRODUCTS=${1:-5000}
RUNS=${2:-5}
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin tablestat
BIN="$(realpath "$TARGET/release/tablestat")"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$BIN" generate-history --db "$DIR/h.db" --products "$PRODUCTS" >/dev/null
{
    printf '[airflow]\nurl = "http://127.0.0.1:9"\napi = "v1"\nauth = "none"\n[store]\npath = "%s"\n' "$DIR/h.db"
    # The products generate-history writes: table_NNNNN, ten to a DAG.
    for ((i = 0; i < PRODUCTS; i++)); do
        printf '[[product]]\nid = "table_%05d"\ndag = "dag_%04d"\ntask = "dbt_build"\n' "$i" $((i / 10))
    done
} >"$DIR/c.toml"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
firsts=() keys=()
for ((run = 0; run < RUNS; run++)); do
    session="tablestat-first-frame-$$-$run"
    start=$(now_ms)
    tmux new-session -d -s "$session" -x 200 -y 50 "NO_COLOR=1 $BIN -c $DIR/c.toml"
    until tmux capture-pane -p -t "$session" 2>/dev/null | grep -q "table_00003"; do :; done
    firsts+=($(($(now_ms) - start)))
    sleep 1
    start=$(now_ms)
    tmux send-keys -t "$session" "?"
    until tmux capture-pane -p -t "$session" | grep -q "move down"; do :; done
    keys+=($(($(now_ms) - start)))
    tmux kill-session -t "$session"
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(($# / 2 + 1))p"; }
echo "$PRODUCTS products, $RUNS runs: first frame median $(median "${firsts[@]}") ms (${firsts[*]}); keypress to screen median $(median "${keys[@]}") ms (${keys[*]})"
