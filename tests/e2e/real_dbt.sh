#!/usr/bin/env bash
# Real dbt artifacts for tablestat: builds tests/e2e/dbt_project with real dbt-core 1.10 +
# dbt-duckdb (offline: its only package is the in-repo packages/shop_checks) twice:
#   green    raw data of the all_pass scenario       -> `dbt build` exit 0
#   failing  raw data of the test_failures scenario  -> `dbt build` exit 1 (unique, not_null,
#            relationships fail; accepted_values warns; the three marts are skipped)
# checks each target/run_results.json against dbt/expected_{green,failing}.json, prints the
# target/ paths, then runs `BIN poll --once --json` on them, each time through a fake Airflow 3
# API on 127.0.0.1 (dbt/fake_airflow3.py) whose dbt_build task started just before the build
# (green, failing) or 1 h after it (stale-failed, stale-success: the artifacts must be refused),
# and checks the JSON with dbt/check_tablestat.py (see check_tablestat at the end).
#
# usage: tests/e2e/real_dbt.sh BIN          (exit 0 only if everything passed)
# env: TABLESTAT_E2E_CACHE     venv cache (default ~/.cache/tablestat-e2e; venv dbt110/)
#      TABLESTAT_E2E_DBT_OUT   where the two builds are left (default ${TMPDIR:-/tmp}/tablestat-e2e-dbt;
#                              emptied at the start of each run)
#      E2E_PYTHON              python used to create the venv (default python3)
#      E2E_VERBOSE=1           also print the log on success
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { grep -m1 '^# usage:' "${BASH_SOURCE[0]}" | sed 's/^# //'; }
BIN=""
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 64 ;;
    *) [[ -z $BIN ]] || { usage >&2; exit 64; }; BIN=$1 ;;
  esac
  shift
done
[[ -n $BIN ]] || { usage >&2; exit 64; }
[[ $BIN != */* || $BIN == /* ]] || BIN=$PWD/$BIN

OUT=${TABLESTAT_E2E_DBT_OUT:-${TMPDIR:-/tmp}/tablestat-e2e-dbt}
if [[ -e $OUT && ! -f $OUT/.tablestat-e2e-dbt ]] && [[ -n $(ls -A "$OUT" 2>/dev/null) ]]; then
  echo "real_dbt.sh: $OUT exists and was not made by this script; refusing to empty it" >&2
  exit 64
fi
rm -rf "$OUT"
mkdir -p "$OUT"
touch "$OUT/.tablestat-e2e-dbt"
E2E_LOG=$OUT/e2e.log
: >"$E2E_LOG"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FAKE_PID=""
# stop_fake: stop the fake Airflow of the current scenario, if one is running
stop_fake() {
  [[ -n $FAKE_PID ]] || return 0
  kill "$FAKE_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 30; i++)); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$FAKE_PID" 2>/dev/null || true
  wait "$FAKE_PID" 2>/dev/null || true
  FAKE_PID=""
}

on_exit() {
  local rc=$?
  stop_fake
  if ((rc == 3)); then   # check_tablestat failed: its FAIL line is printed already
    print_file "log" "$E2E_LOG" 40
    exit 1
  elif ((rc != 0)); then
    echo "FAIL real_dbt.sh (exit $rc); last step: $(grep '^\[.*\] == ' "$E2E_LOG" | tail -1 | sed 's/.*== //')"
    print_file "log" "$E2E_LOG"
  elif [[ ${E2E_VERBOSE:-0} == 1 ]]; then
    print_file "log" "$E2E_LOG"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "venv for dbt-core 1.10 + dbt-duckdb 1.10"
t0=$(now_s)
ensure_venv dbt110 "$HERE/constraints/dbt110.txt" \
  "import importlib.metadata as m; assert m.version('dbt-core').startswith('1.10.'); assert m.version('dbt-duckdb').startswith('1.10.')" \
  "dbt-core>=1.10,<1.11" "dbt-duckdb>=1.10,<1.11"
T_VENV="$VENV_STATUS $(($(now_s) - t0))s"
DBT=$VENV/bin/dbt
log "venv $VENV ($T_VENV): $("$VENV/bin/python" -c 'import importlib.metadata as m; print(*(p + "==" + m.version(p) for p in ("dbt-core", "dbt-duckdb", "dbt-adapters", "duckdb")))')"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false TZ=UTC

# build NAME SCENARIO EXPECTED_EXIT: copy the project to $OUT/NAME, load raw data, dbt deps + build
build() {
  local name=$1 scenario=$2 want=$3 dir=$OUT/$1 rc=0 t
  step "$name build: copy project, load raw data ($scenario)"
  mkdir -p "$dir"
  tar -C "$HERE/dbt_project" --exclude=target --exclude=dbt_packages --exclude=logs \
    --exclude='*.duckdb' --exclude='*.duckdb.wal' -cf - . | tar -C "$dir" -xf -
  export SHOP_DUCKDB=$dir/shop.duckdb DBT_PROFILES_DIR=$dir
  (cd "$dir" && "$VENV/bin/python" setup/load_raw.py "$scenario" "$SHOP_DUCKDB") >>"$E2E_LOG" 2>&1
  step "$name build: dbt deps (local package only)"
  (cd "$dir" && "$DBT" --no-use-colors deps) >>"$E2E_LOG" 2>&1
  step "$name build: dbt build (expect exit $want)"
  t=$(now_s)
  declare -g "START_$name=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"   # the fake dbt_build task's start
  (cd "$dir" && "$DBT" --no-use-colors build) >"$dir/console.txt" 2>&1 || rc=$?
  declare -g "END_$name=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
  log "dbt build ($name) exit $rc in $(($(now_s) - t))s; console: $dir/console.txt"
  if ((rc != want)); then
    print_file "dbt build console ($name)" "$dir/console.txt" >>"$E2E_LOG"
    log "dbt build ($name) exited $rc, expected $want"
    return 1
  fi
  step "$name build: check target/run_results.json"
  "$E2E_PY" "$HERE/dbt/check_run_results.py" "$dir/target" "$HERE/dbt/expected_$name.json" "$t" \
    >"$dir/check.txt" 2>&1 || { cat "$dir/check.txt" >>"$E2E_LOG"; return 1; }
  cat "$dir/check.txt" >>"$E2E_LOG"
  declare -g "T_$name=$(($(now_s) - t))s"
}

T_green="" T_failing=""
build green all_pass 0
build failing test_failures 1
GREEN_TARGET=$OUT/green/target
FAILING_TARGET=$OUT/failing/target
say "  ok   dbt: venv $T_VENV; green build $T_green, failing build $T_failing ($(sed -n 1p "$OUT/failing/check.txt" | cut -d: -f1))"
say "       green:   $GREEN_TARGET   (dbt build exit 0)"
say "       failing: $FAILING_TARGET   (dbt build exit 1)"

# ---------------------------------------------------------------------------------------------
# tablestat on the two real target/ folders. tablestat judges local dbt artifacts against the
# dbt task of the DAG's latest run, so each scenario starts a fake Airflow 3 API
# (dbt/fake_airflow3.py: one DAG shop_daily, one finished run whose dbt_build task has the given
# state and start/end), writes a config (local dbt source, the six models as products, a fresh
# history database), runs `BIN poll --once --json` and checks it with dbt/check_tablestat.py:
#   green          green target/,   dbt_build success, started just before the build -> all up, exit 0
#   failing        failing target/, dbt_build failed,  started just before the build -> exit 2
#   stale-failed   failing target/, dbt_build failed,  started 1 h after the build   -> unknown, exit 3
#   stale-success  failing target/, dbt_build success, started 1 h after the build   -> up + note, exit 0
export E2E_FAKE_AIRFLOW_PASSWORD=tablestat-e2e-fake-pw

# plus1h ISO: ISO + 1 hour
plus1h() {
  "$E2E_PY" -c 'import datetime as d,sys; t=d.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")); print((t+d.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))' "$1"
}

# write_ts_config FILE PORT TARGET: local dbt source, the six models as products
write_ts_config() {
  local m
  {
    printf '[airflow]\nurl = "http://127.0.0.1:%s"\napi = "v2"\nauth = "password"\n' "$2"
    printf 'username = "admin"\npassword_env = "E2E_FAKE_AIRFLOW_PASSWORD"\ntimeout = "10s"\n'
    printf '\n[dbt]\nsource = "local"\ntarget_dir = "%s"\n' "$3"
    printf '\n[store]\npath = "history.db"\n'
    for m in stg_orders stg_customers stg_payments fct_orders dim_customers fct_daily_revenue; do
      printf '\n[[product]]\nid = "%s"\nname = "%s"\ngroup = "Shop"\ndag = "shop_daily"\ntask = "dbt_build"\nmodel = "%s"\n' \
        "$m" "$m" "$m"
    done
  } >"$1"
}

# scenario NAME TARGET TASK_STATE TASK_START TASK_END: returns 1 (after a FAIL line) on failure
scenario() {
  local name=$1 target=$2 state=$3 start=$4 end=$5 d=$OUT/tablestat/$1 port="" i r=0
  step "tablestat $name: fake Airflow 3 (dbt_build $state $start .. $end)"
  mkdir -p "$d"
  "$E2E_PY" "$HERE/dbt/fake_airflow3.py" --port-file "$d/port" --task-state "$state" \
    --task-start "$start" --task-end "$end" >"$d/fake_airflow.log" 2>&1 &
  FAKE_PID=$!
  for ((i = 0; i < 100; i++)); do
    [[ -s $d/port ]] && { port=$(cat "$d/port"); break; }
    kill -0 "$FAKE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    say "FAIL dbt: tablestat $name: the fake Airflow did not start"
    print_file "fake Airflow log" "$d/fake_airflow.log" >>"$E2E_LOG"
    stop_fake
    return 1
  fi
  write_ts_config "$d/tablestat.toml" "$port" "$target"
  step "tablestat $name: poll --once --json"
  (cd "$d" && timeout 60 "$BIN" --config "$d/tablestat.toml" poll --once --json \
    >"$d/poll.json" 2>"$d/poll.err") || r=$?
  stop_fake
  log "tablestat $name: exit $r"
  print_file "tablestat $name stderr" "$d/poll.err" 40 >>"$E2E_LOG"
  print_file "fake Airflow log ($name)" "$d/fake_airflow.log" >>"$E2E_LOG"
  if ((r == 124)); then
    say "FAIL dbt: tablestat $name: poll --once --json did not finish within 60 s"
    return 1
  fi
  if ! "$E2E_PY" "$HERE/dbt/check_tablestat.py" "$name" "$d/poll.json" "$r" "$target" >"$d/check.txt" 2>&1; then
    say "FAIL dbt: tablestat $name: output differs from the expected states (exit $r):"
    cat "$d/check.txt"
    return 1
  fi
  if ! grep -q 'POST /auth/token .* 201' "$d/fake_airflow.log"; then
    say "FAIL dbt: tablestat $name: tablestat never logged in at POST /auth/token (fake Airflow log: $d/fake_airflow.log)"
    return 1
  fi
  log "tablestat $name: as expected (exit $r)"
  RESULTS+=("$name=$r")
}

check_tablestat() {
  step "check_tablestat"
  if ! { [[ $BIN == */* ]] && [[ -f $BIN && -x $BIN ]]; } \
    && ! { [[ $BIN != */* ]] && command -v "$BIN" >/dev/null 2>&1; }; then
    say "FAIL dbt: tablestat binary missing: $BIN (the dbt builds above are fine)"
    return 1
  fi
  RESULTS=()
  local t0 stale_start stale_end
  t0=$(now_s)
  # shellcheck disable=SC2154  # START_*/END_* are set by build() through declare -g
  stale_start=$(plus1h "$START_failing") || return 1
  # shellcheck disable=SC2154
  stale_end=$(plus1h "$END_failing") || return 1
  # shellcheck disable=SC2154
  scenario green "$GREEN_TARGET" success "$START_green" "$END_green" || return 1
  scenario failing "$FAILING_TARGET" failed "$START_failing" "$END_failing" || return 1
  scenario stale-failed "$FAILING_TARGET" failed "$stale_start" "$stale_end" || return 1
  scenario stale-success "$FAILING_TARGET" success "$stale_start" "$stale_end" || return 1
  say "PASS dbt: tablestat on real dbt artifacts as expected (exit codes ${RESULTS[*]}; $(($(now_s) - t0))s)"
}
# ---------------------------------------------------------------------------------------------

check_tablestat || exit 3
