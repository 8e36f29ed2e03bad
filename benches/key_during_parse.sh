#!/usr/bin/env bash
# The board, whole process, in a real terminal (tmux): time from a keypress (`j`/`k`) to the
# frame drawn, by the board's own log ("key to frame: N µs", from the key's arrival to the
# end of the draw), while the board's own poller re-parses a ~106 MB dbt manifest (issue 7:
# "a keypress on screen ≤ 16 ms even while a poll parses").
#
# Setup: a fake Airflow 2 (`poll_cycle --serve`, 20 ms a request), a local dbt `target/`
# written by `scale_artifacts` (5,000 models, 20,000 tests: manifest 106 MB, run_results
# 18 MB), PRODUCTS products (ten to a DAG, each a model of that manifest) and
# `[poll] interval = "3s"`. Each round reads the artifacts into the page cache (as if dbt
# had just written them) and touches them, so the next poll's fingerprint differs and it
# parses them again; keys go in every 20-50 ms for ROUND_S seconds, past that poll.
#
# The board logs no line when a parse starts or ends, so the parse is seen from outside:
# the poller's parse runs on a blocking-pool thread of the poller's runtime (comm
# `tokio-rt-worker`, nice 10 as it inherits the poller thread's priority; the board's own
# runtime has nice 0). A sampler reads that thread's CPU time (/proc/PID/task/TID/schedstat,
# ns) and state every ~5 ms; a stretch where it runs (CPU rises or state R/D) of ≥ 100 ms of
# CPU is a parse (read + parse + index of the three files). A key's arrival is its log line's
# time minus its logged µs (same clock). "During" = arrival inside the span the samples
# prove the parse covered (from the first sample after it began to the last sample before it
# ended); "outside" = arrival outside the widest span it may have covered (one sample
# earlier/later); the keys between are counted as "edge" and left out of both. "Outside"
# includes the poll's evaluation, write and the board's reload of the new snapshot.
#
#   bash benches/key_during_parse.sh [PRODUCTS] [KEYS]     (defaults: 500, 1200)
#   env: ARTIFACTS=DIR reuses a scale_artifacts folder (generated once into it if empty);
#        ROUND_S (default 4.5) seconds of keys per round; KEEP=1 keeps the temp dir.
set -euo pipefail

PRODUCTS=${1:-500}
KEYS=${2:-1200}
ROUND_S=${ROUND_S:-4.5}
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin tablestat --example poll_cycle --example scale_artifacts
BIN="$(realpath "$TARGET/release/tablestat")"
EXAMPLES="$(realpath "$TARGET/release/examples")"
DIR=$(mktemp -d /tmp/key_during_parse.XXXXXX)
SESSION="tablestat-key-parse-$$"
SAMPLER_PID=""
cleanup() {
    # The board quits on `q`, after its poller finishes or abandons the poll (≤ 5 s); a
    # board whose terminal is merely closed lingers as long, and would outlive this script.
    if [[ -n ${PID:-} ]]; then
        tmux send-keys -t "$SESSION" q 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do [[ -d /proc/$PID ]] || break; sleep 0.1; done
        kill "$PID" 2>/dev/null || true
    fi
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    tmux kill-session -t "tablestat-keepalive-$$" 2>/dev/null || true
    [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null || true
    [[ -n ${FAKE_PID:-} ]] && kill "$FAKE_PID" 2>/dev/null || true
    [[ -n ${KEEP:-} ]] && echo "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
tmux new-session -d -s "tablestat-keepalive-$$"

ART=${ARTIFACTS:-$DIR/target}
mkdir -p "$ART"
if [[ ! -s $ART/manifest.json || ! -s $ART/run_results.json ]]; then
    "$EXAMPLES/scale_artifacts" --out "$ART" --models 5000 --tests 20000 --seed 1 >/dev/null
fi
ART=$(realpath "$ART")
# Models that the run results (and so the manifest) hold: the generator's names are random.
grep -o '"unique_id":"model\.[^"]*"' "$ART/run_results.json" | cut -d'"' -f4 | sort -u | sed -n "1,${PRODUCTS}p" >"$DIR/models"
(($(wc -l <"$DIR/models") == PRODUCTS)) || { echo "the artifacts hold fewer than $PRODUCTS models" >&2; exit 1; }

DAGS=$(((PRODUCTS + 9) / 10))
coproc FAKE { exec "$EXAMPLES/poll_cycle" --serve --dags "$DAGS" --latency-ms 20; }
read -r -t 30 -u "${FAKE[0]}" PORT

{
    printf '[airflow]\nurl = "http://127.0.0.1:%s"\napi = "v1"\nauth = "none"\n' "$PORT"
    printf '[dbt]\nsource = "local"\ntarget_dir = "%s"\n' "$ART"
    printf '[poll]\ninterval = "3s"\n[store]\npath = "%s"\n' "$DIR/h.db"
    i=0
    while read -r model; do
        printf '[[product]]\nid = "p%05d"\ndag = "fleet_%05d"\ntask = "dbt_build"\nmodel = "%s"\n' "$i" $((i / 10)) "$model"
        i=$((i + 1))
    done <"$DIR/models"
} >"$DIR/c.toml"

# Samples the poller's blocking-pool threads: "unix_ns tid state cpu_ns", one line a thread a sample.
cat >"$DIR/sample.py" <<'EOF'
import os, signal, sys, time
pid, out = sys.argv[1], open(sys.argv[2], "w")
signal.signal(signal.SIGTERM, lambda *_: (out.close(), os._exit(0)))
base, known = f"/proc/{pid}/task", {}
while True:
    try:
        tids = os.listdir(base)
    except FileNotFoundError:
        break
    now = time.time_ns()
    for tid in tids:
        try:
            with open(f"{base}/{tid}/stat") as f:
                stat = f.read()
            if tid not in known:
                comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                nice = int(stat[stat.rindex(")") + 2 :].split()[16])
                known[tid] = comm.startswith("tokio-r") and nice > 0
            if known[tid]:
                with open(f"{base}/{tid}/schedstat") as f:
                    cpu = f.read().split()[0]
                out.write(f"{now} {tid} {stat[stat.rindex(')') + 2]} {cpu}\n")
        except (FileNotFoundError, ProcessLookupError):
            pass
    time.sleep(0.005)
out.close()
EOF

echo "$PRODUCTS products in $DAGS DAGs, manifest $(($(stat -c %s "$ART/manifest.json") / 1000000)) MB, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
tmux new-session -d -s "$SESSION" -x 200 -y 50 "XDG_STATE_HOME=$DIR/state TABLESTAT_LOG=debug NO_COLOR=1 exec $BIN -c $DIR/c.toml"
PID=$(tmux list-panes -t "$SESSION" -F '#{pane_pid}')
# The first frame, then the first poll's (which parses the artifacts once) on screen.
for ((i = 0; i < 3000; i++)); do
    tmux capture-pane -p -t "$SESSION" 2>/dev/null | grep -q "$PRODUCTS of $PRODUCTS products" && break
    sleep 0.01
done
tmux capture-pane -p -t "$SESSION" | grep -q "$PRODUCTS of $PRODUCTS products" || { echo "the board showed no products" >&2; exit 1; }
sleep 2
python3 "$DIR/sample.py" "$PID" "$DIR/samples" &
SAMPLER_PID=$!
: >"$DIR/rounds"

sent=0 round=0
while ((sent < KEYS)); do
    key=$([[ $((round % 2)) == 0 ]] && echo j || echo k)
    cat "$ART"/*.json >/dev/null
    touch "$ART"/*.json
    echo "$(date +%s%N) touch" >>"$DIR/rounds"
    end=$(($(date +%s%N) + $(awk "BEGIN { printf \"%.0f\", $ROUND_S * 1e9 }")))
    while ((sent < KEYS && $(date +%s%N) < end)); do
        tmux send-keys -t "$SESSION" "$key"
        sent=$((sent + 1))
        sleep "0.0$((20 + RANDOM % 31))"
    done
    round=$((round + 1))
done
sleep 1
kill "$SAMPLER_PID"
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
LOG="$DIR/state/tablestat/tablestat.log"

python3 - "$DIR/samples" "$LOG" "$sent" "$round" "$DIR/rounds" <<'EOF'
import re, sys, statistics
from datetime import datetime, timezone
samples_path, log_path, sent, rounds, rounds_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
touches = [int(l.split()[0]) for l in open(rounds_path)]

# Per thread: the sample times and whether the thread ran since the previous sample.
per = {}
for line in open(samples_path):
    t, tid, state, cpu = line.split()
    per.setdefault(tid, []).append((int(t), state, int(cpu)))
# A run of consecutive sample intervals in which the thread ran (its CPU rose, or it was
# running or in disk wait at the sample) is one parse; it surely covers [first interval's
# end, last interval's start] and lies within [first interval's start, last interval's end].
parses = []  # (inner start, inner end, outer start, outer end, cpu ns)
for tid, rows in per.items():
    burst = None
    for (t0, _, c0), (t1, s1, c1) in zip(rows, rows[1:]):
        if c1 > c0 or s1 in "RD":
            if burst is None:
                burst = [t1, t0, t0, t1, 0]
            burst[1], burst[3] = t0, t1
            burst[4] += c1 - c0
        elif burst is not None:
            parses.append(tuple(burst))
            burst = None
    if burst is not None:
        parses.append(tuple(burst))
parses = sorted(p for p in parses if p[4] >= 100_000_000)

def unix_ns(stamp):
    # 2026-11-26T16:39:08.790292Z
    day, frac = stamp.rstrip("Z").split(".")
    whole = datetime.strptime(day, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(whole.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))

polls = [unix_ns(l.split()[0]) for l in open(log_path, encoding="utf-8") if " INFO poll " in l]
start = touches[0]
keys = []
for line in open(log_path, encoding="utf-8"):
    m = re.match(r"(\S+)\s+DEBUG key to frame: (\d+) µs", line)
    if m:
        drawn = unix_ns(m.group(1))
        if drawn >= start:
            keys.append((drawn - int(m.group(2)) * 1000, int(m.group(2))))

during, outside, edge, slow = [], [], [], []
for arrived, us in keys:
    if any(p[0] <= arrived <= p[1] for p in parses):
        during.append(us)
        where = "during a parse"
    elif any(p[2] <= arrived <= p[3] for p in parses):
        edge.append(us)
        where = "at a parse's edge"
    else:
        outside.append(us)
        where = "outside a parse"
    if us > 16000:
        # Where it fell: after the last parse's end, and from the nearest poll's log line
        # (written when the poll's evaluation is done, before its write and the board's reload).
        ends = [p[3] for p in parses if p[3] <= arrived]
        since = f"{(arrived - max(ends)) / 1e6:.0f} ms after a parse ended" if ends else "before any parse"
        near = min(polls, key=lambda t: abs(t - arrived)) if polls else None
        poll = f", {(arrived - near) / 1e6:+.0f} ms from a poll's log line" if near else ""
        slow.append(f"  {us / 1000:.1f} ms, {where}: {since}{poll}")

def show(name, xs):
    if not xs:
        return f"{name}: 0 keys"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    over = sum(x > 16000 for x in xs)
    return (f"{name}: {len(xs)} keys, key to frame median {statistics.median(xs) / 1000:.2f} ms, "
            f"p95 {p95 / 1000:.2f} ms, max {xs[-1] / 1000:.2f} ms, over 16 ms: {over}")

walls = sorted((p[3] - p[2]) / 1e6 for p in parses)
cpus = sorted(p[4] / 1e6 for p in parses)
print(f"{rounds} rounds (artifacts touched each), {sent} keys sent, {len(keys)} key-to-frame lines logged "
      f"(a key that arrives while the previous one is handled shares its frame)")
if parses:
    print(f"{len(parses)} parses seen on the poller's blocking thread: wall median {statistics.median(walls):.0f} ms "
          f"({walls[0]:.0f}-{walls[-1]:.0f}), CPU median {statistics.median(cpus):.0f} ms ({cpus[0]:.0f}-{cpus[-1]:.0f}); "
          f"parse bounds ±{statistics.median([ (p[0]-p[2]) / 1e6 for p in parses]):.0f} ms (sample period)")
    # Sanity: each should start after a touch and end before the next poll's log line
    # (the poll logs after parsing and evaluating 500 products).
    fits, lags = 0, []
    for p in parses:
        after = [p[2] - t for t in touches if t <= p[2]]
        logged = [t - p[3] for t in polls if t >= p[3]]
        if after and logged and min(after) < 5e9 and min(logged) < 5e9:
            fits += 1
            lags.append(min(logged) / 1e6)
    print(f"  {fits} of {len(parses)} began within 5 s after a touch and ended before a poll's log line"
          + (f" (median {statistics.median(lags):.0f} ms before it: the poll's evaluation)" if lags else ""))
else:
    print("no parse seen: the poller's blocking thread never ran for 100 ms of CPU")
print(show("during a parse", during))
print(show("outside a parse", outside))
print(f"edge (arrival within a sample of a parse's start or end, left out): {len(edge)} keys")
if slow:
    print("keys over 16 ms:")
    print("\n".join(slow))
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
