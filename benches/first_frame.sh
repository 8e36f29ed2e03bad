#!/usr/bin/env bash
# The board from local data, whole process, in a real terminal (tmux): time from launch to
# the first frame showing the product list, and from a keypress (`?`, the help screen) to
# the screen showing it, while the board's poller is failing to reach Airflow. Includes
# tmux's own latency (send-keys, capture-pane every 5 ms: a few ms), and the board's own figure from its
# log ("first frame drawn N ms after start": from the command's start, config included).
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
# A session that outlives the runs keeps the tmux server up (else each run starts one).
tmux new-session -d -s "tablestat-keepalive-$$"
trap 'tmux kill-session -t "tablestat-keepalive-$$"; rm -rf "$DIR"' EXIT

# Each run starts from this same file: a board's own poller writes (here: every product
# unknown, Airflow being unreachable), and the disk's flush of that would slow the next run.
# The copy and the binary are read once just before the launch so that they are in the page
# cache, as on a host where the poller runs: this VM pages out idle file pages within
# seconds (DAMON's pageout), and a cold start reads them from disk. COLD=1 leaves it out.
"$BIN" generate-history --db "$DIR/base.db" --products "$PRODUCTS" >/dev/null
{
    printf '[airflow]\nurl = "http://127.0.0.1:9"\napi = "v1"\nauth = "none"\n[store]\npath = "%s"\n' "$DIR/h.db"
    # The products generate-history writes: table_NNNNN, ten to a DAG.
    for ((i = 0; i < PRODUCTS; i++)); do
        printf '[[product]]\nid = "table_%05d"\ndag = "dag_%04d"\ntask = "dbt_build"\n' "$i" $((i / 10))
    done
} >"$DIR/c.toml"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
firsts=() keys=() logged=() handled=()
for ((run = 0; run < RUNS; run++)); do
    session="tablestat-first-frame-$$-$run"
    rm -rf "$DIR/state" "$DIR"/h.db*
    cp "$DIR/base.db" "$DIR/h.db"
    sync
    sleep 2
    [[ -n ${COLD:-} ]] || cat "$DIR/h.db" "$BIN" >/dev/null
    start=$(now_ms)
    tmux new-session -d -s "$session" -x 200 -y 50 "XDG_STATE_HOME=$DIR/state TABLESTAT_LOG=debug NO_COLOR=1 $BIN -c $DIR/c.toml"
    until tmux capture-pane -p -t "$session" 2>/dev/null | grep -q "of $PRODUCTS products"; do sleep 0.005; done
    firsts+=($(($(now_ms) - start)))
    sleep 1
    start=$(now_ms)
    tmux send-keys -t "$session" "?"
    until tmux capture-pane -p -t "$session" | grep -q "move down"; do sleep 0.005; done
    keys+=($(($(now_ms) - start)))
    tmux kill-session -t "$session"
    logged+=($(sed -n 's/.*first frame drawn \([0-9]*\) ms.*/\1/p' "$DIR/state/tablestat/tablestat.log" | head -1))
    handled+=($(sed -n 's/.*key to frame: \([0-9]*\) µs.*/\1/p' "$DIR/state/tablestat/tablestat.log" | head -1))
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(($# / 2 + 1))p"; }
echo "$PRODUCTS products, $RUNS runs: first frame median $(median "${firsts[@]}") ms (${firsts[*]}) seen through tmux, $(median "${logged[@]}") ms (${logged[*]}) by the board's log; keypress to screen median $(median "${keys[@]}") ms (${keys[*]}) seen through tmux, $(median "${handled[@]}") µs (${handled[*]}) from the key's arrival to the frame by the board's log"
