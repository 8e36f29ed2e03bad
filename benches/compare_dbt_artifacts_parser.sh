#!/usr/bin/env bash
# tablestat's dbt artifact ingest side by side with the Python dbt-artifacts-parser, on the
# same generated files in the same run (issue 7: >= 40x faster, peak memory <= 1.3x the file).
#
#   bash benches/compare_dbt_artifacts_parser.sh [MODELS] [TESTS] [RUNS]
#
# Defaults: 5,000 models and 20,000 tests (a ~106 MB manifest), 3 runs of each, medians.
# The venv is kept in ~/.cache/tablestat-bench/venv; the files in $CARGO_TARGET_DIR (or
# target/). Peak memory is each process's maximum resident set (GNU time's -v).
set -euo pipefail

MODELS=${1:-5000}
TESTS=${2:-20000}
RUNS=${3:-3}
PARSER_VERSION=0.15.0

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
DIR="$TARGET/scale-artifacts/$MODELS-$TESTS-1"
VENV="$HOME/.cache/tablestat-bench/venv"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/pip" show dbt-artifacts-parser 2>/dev/null | grep -q "^Version: $PARSER_VERSION$"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "dbt-artifacts-parser==$PARSER_VERSION"
fi

cargo build --release --quiet --example scale_artifacts --example ingest_once
if [[ ! -f "$DIR/sources.json" ]]; then
    "$TARGET/release/examples/scale_artifacts" --out "$DIR" --models "$MODELS" --tests "$TESTS" --seed 1 >/dev/null
fi

PY=$(mktemp --suffix .py)
trap 'rm -f "$PY"' EXIT
cat >"$PY" <<'PYTHON'
import json, sys, time
from dbt_artifacts_parser.parser import parse_manifest
path, what = sys.argv[1], sys.argv[2]
started = time.perf_counter()
with open(path, "rb") as f:
    doc = json.loads(f.read())
if what == "parse":
    parse_manifest(doc)
print(f"{time.perf_counter() - started:.3f}")
PYTHON

# Runs a command RUNS times; prints "median_seconds peak_rss_mb" (median of each).
measure() {
    local times=() rss=()
    for _ in $(seq "$RUNS"); do
        local out err
        err=$(mktemp)
        out=$( /usr/bin/time -v "$@" 2>"$err" )
        times+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$err")")
        rss+=("$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$err")")
        rm -f "$err"
    done
    local mid=$(( RUNS / 2 ))
    echo "$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$((mid + 1))p") $(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$((mid + 1))p")"
}

SIZE_MB=$(awk -v b="$(stat -c %s "$DIR/manifest.json")" 'BEGIN {printf "%.1f", b / 1e6}')
echo "manifest.json: $SIZE_MB MB ($MODELS models, $TESTS tests), $RUNS runs each, medians, whole processes"
read -r RUST_S RUST_MB < <(measure "$TARGET/release/examples/ingest_once" "$DIR" --manifest-only)
read -r LOADS_S LOADS_MB < <(measure "$VENV/bin/python" "$PY" "$DIR/manifest.json" loads)
read -r DAP_S DAP_MB < <(measure "$VENV/bin/python" "$PY" "$DIR/manifest.json" parse)
printf '%-46s %8s %10s\n' "" "wall s" "peak MB"
printf '%-46s %8s %10s\n' "tablestat: read + parse + index" "$RUST_S" "$RUST_MB"
printf '%-46s %8s %10s\n' "python json.loads" "$LOADS_S" "$LOADS_MB"
printf '%-46s %8s %10s\n' "dbt-artifacts-parser $PARSER_VERSION parse_manifest" "$DAP_S" "$DAP_MB"
awk -v r="$RUST_S" -v d="$DAP_S" -v l="$LOADS_S" -v rm="$RUST_MB" -v s="$SIZE_MB" 'BEGIN {
    printf "tablestat is %.0fx faster than dbt-artifacts-parser, %.0fx faster than json.loads; peak memory %.2fx the file\n", d / r, l / r, rm / s
}'
