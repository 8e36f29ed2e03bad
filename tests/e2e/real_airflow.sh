#!/usr/bin/env bash
# Real end-to-end check of `tablestat poll --once --json` against real Airflow 2.10.5
# (/api/v1, basic auth) and Airflow 3.3.2 (/api/v2, JWT from POST /auth/token).
#
# usage: tests/e2e/real_airflow.sh [--keep] [--only 2|3] BIN
#   BIN        the tablestat binary (e.g. target/debug/tablestat)
#   --keep     leave the servers running afterwards and print URL/credentials/stop command
#   --only N   run only Airflow N (2 or 3)
# env: TABLESTAT_E2E_CACHE  venv cache (default ~/.cache/tablestat-e2e: airflow2/, airflow3/)
#      E2E_PYTHON           python used to create the venvs (default python3; CPython 3.11 here)
#      E2E_VERBOSE=1        also print the log on success
#
# Per major: cached venv (pip, pinned by constraints/airflowN.txt; PyPI only), temp
# AIRFLOW_HOME with SQLite, the DAGs in airflow/dags/, every component bound to 127.0.0.1 on a
# free port (checked: no listener on another address), one REST-triggered run of each
# non-paused DAG, broken_daily broken after its first run, all states verified through the API
# (airflow/driver.py), then tablestat run: `poll --once --json` twice on one fresh history
# database and `status --json` after, all checked by airflow/check_tablestat.py (states,
# reasons, run ids, unchanged `since`/incident across polls, status == poll, database mode 0600).
# With both majors, each is left running after its own checks, and then one config watches
# both at once ([[airflow]] `legacy` = 2, `core` = 3) with two dbt sources: a local target/
# written by real dbt run by Airflow 3's shop_local DAG (the e2e project loaded with the
# test_failures data by real_dbt.sh), and the dbt Cloud fake (dbt/fake_dbt_cloud.py, real dbt
# 1.11 artifacts) whose run id Airflow 2's shop_cloud DAG leaves in XCom: every product right,
# and Airflow 2 stopped makes only its own products `unknown` (many pipelines, each its own
# failure domain). The dbt part needs real_dbt.sh's venv and build (run_all.sh runs it first);
# without them it is skipped with a note, or fails when E2E_REQUIRE_DBT=1.
# Quiet on success; on failure prints the log. Exit 0 only if every major passed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

KEEP=0 ONLY="" BIN=""
while (($#)); do
  case $1 in
    --keep) KEEP=1 ;;
    --only) [[ $# -ge 2 ]] || { usage >&2; exit 64; }; ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 64 ;;
    *) [[ -z $BIN ]] || { usage >&2; exit 64; }; BIN=$1 ;;
  esac
  shift
done
[[ -n $BIN ]] || { usage >&2; exit 64; }
case $ONLY in "") MAJORS=(2 3) ;; 2 | 3) MAJORS=("$ONLY") ;; *) usage >&2; exit 64 ;; esac
[[ $BIN != */* || $BIN == /* ]] || BIN=$PWD/$BIN

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tablestat-e2e-airflow.XXXXXX")
E2E_LOG=$TMP/e2e.log
: >"$E2E_LOG"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
DRIVER=$HERE/airflow/driver.py
export E2E_AIRFLOW_PASSWORD=tablestat-e2e-admin-pw   # fixed password, configured on both majors
AF_USER="admin"
declare -A VERSION=([2]=2.10.5 [3]=3.3.2)
# the dbt part of both_at_once: real_dbt.sh's venv and its failing build (data loaded, deps done)
DBT_BIN=$E2E_CACHE/dbt110/bin/dbt
DBT_BUILT=${TABLESTAT_E2E_DBT_OUT:-${TMPDIR:-/tmp}/tablestat-e2e-dbt}/failing
SHOP_DIR=$TMP/shop

# stop_tree PID...: SIGTERM the process groups and every descendant, SIGKILL what is left
stop_tree() {
  local all p i
  (($#)) || return 0
  all=$("$E2E_PY" "$DRIVER" tree "$@" 2>/dev/null || echo "$*")
  for p in "$@"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in $all; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 40; i++)); do
    local alive=0
    for p in $all; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.5
  done
  for p in "$@"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  if ((!KEEP)); then
    local pids
    pids=$(cat "$TMP"/af*/pids 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -z $pids ]] || stop_tree $pids
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg DIR NAME CMD...: start CMD in its own session (process group), log to DIR/NAME.log
start_bg() {
  local dir=$1 name=$2
  shift 2
  setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo "$!" >>"$dir/pids"
  echo "$!" >"$dir/$name.pid"
  log "started $name (pid $!): $*"
}

write_config() { # write_config FILE MAJOR PORT
  local api=v1 auth=basic
  [[ $2 == 3 ]] && api=v2 auth=password
  {
    cat <<EOF
[airflow]
url = "http://127.0.0.1:$3"
api = "$api"
auth = "$auth"
username = "$AF_USER"
password_env = "E2E_AIRFLOW_PASSWORD"
timeout = "10s"

[store]
path = "history.db"
EOF
    local id name dag
    while read -r id dag name; do
      printf '\n[[product]]\nid = "%s"\nname = "%s"\ngroup = "E2E"\ndag = "%s"\ntask = "dbt_build"\n' \
        "$id" "$name" "$dag"
    done <<'EOF'
healthy healthy_daily Healthy table
failing failing_daily Failing table
paused paused_daily Paused table
broken broken_daily Broken table
upstream upstream_fail_daily Upstream failed table
missing no_such_dag Missing table
EOF
  } >"$1"
}

# run_major M: the whole check for Airflow M; runs in a subshell (own EXIT trap stops servers)
run_major() {
  local M=$1 ver=${VERSION[$1]} d=$TMP/af$1 t0 port url summary
  mkdir -p "$d/home" "$d/dags" "$d/cfg"
  : >"$d/pids"
  MAJOR_DIR=$d   # global: the EXIT trap runs after this function has returned
  # shellcheck disable=SC2046
  trap 'if ((!KEEP && !BOTH)) && [[ -s $MAJOR_DIR/pids ]]; then stop_tree $(cat "$MAJOR_DIR/pids"); : >"$MAJOR_DIR/pids"; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  step "venv for apache-airflow==$ver"
  t0=$(now_s)
  ensure_venv "airflow$M" "$HERE/constraints/airflow$M.txt" \
    "import importlib.metadata as m; assert m.version('apache-airflow') == '$ver'" \
    "apache-airflow==$ver"
  T_VENV="$VENV_STATUS $(($(now_s) - t0))s"
  log "venv: $VENV ($T_VENV)"
  export PATH=$VENV/bin:$PATH   # 2.x SequentialExecutor runs `airflow tasks run` by name

  step "configure AIRFLOW_HOME"
  t0=$(now_s)
  port=$("$E2E_PY" "$DRIVER" freeport)
  echo "$port" >"$d/port"
  url=http://127.0.0.1:$port
  export AIRFLOW_HOME=$d/home
  export AIRFLOW__CORE__DAGS_FOLDER=$d/dags
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
  if [[ $M == 2 ]]; then
    # SQLite allows only the SequentialExecutor on 2.x
    export AIRFLOW__CORE__EXECUTOR=SequentialExecutor
    export AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session
    export AIRFLOW__WEBSERVER__WEB_SERVER_HOST=127.0.0.1
    export AIRFLOW__WEBSERVER__WEB_SERVER_PORT=$port
    export AIRFLOW__WEBSERVER__BASE_URL=$url
    export AIRFLOW__WEBSERVER__WORKERS=2
    export AIRFLOW__WEBSERVER__SECRET_KEY=tablestat-e2e-$RANDOM$RANDOM
    export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=5
    export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=5
    export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
  else
    export AIRFLOW__CORE__EXECUTOR=LocalExecutor
    export AIRFLOW__CORE__PARALLELISM=4
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$AF_USER:admin
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$d/home/simple_auth_manager_passwords.json.generated
    export AIRFLOW__API__HOST=127.0.0.1
    export AIRFLOW__API__PORT=$port
    export AIRFLOW__API__BASE_URL=$url
    export AIRFLOW__API__WORKERS=1
    export AIRFLOW__API__SECRET_KEY=tablestat-e2e-$RANDOM$RANDOM
    export AIRFLOW__API_AUTH__JWT_SECRET=tablestat-e2e-jwt-$RANDOM$RANDOM$RANDOM
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$url/execution/
    export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
    export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=5
    # the simple auth manager keeps passwords there; writing it first fixes the password
    printf '{"%s": "%s"}\n' "$AF_USER" "$E2E_AIRFLOW_PASSWORD" \
      >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  fi
  local start_date
  start_date=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:00+00:00)
  for f in "$HERE"/airflow/dags/*.py; do
    sed -e "s/__E2E_START_DATE__/$start_date/" -e "s|__E2E_SHOP_DIR__|$SHOP_DIR|" -e "s|__E2E_DBT__|$DBT_BIN|" \
      "$f" >"$d/dags/$(basename "$f")"
  done

  step "airflow db migrate"
  airflow db migrate >>"$d/setup.log" 2>&1
  if [[ $M == 2 ]]; then
    step "airflow users create"
    airflow users create --username "$AF_USER" --password "$E2E_AIRFLOW_PASSWORD" --role Admin \
      --firstname E2E --lastname Admin --email admin@example.com >>"$d/setup.log" 2>&1
  fi

  step "start Airflow $M servers"
  if [[ $M == 2 ]]; then
    start_bg "$d" webserver airflow webserver --hostname 127.0.0.1 --port "$port"
    start_bg "$d" scheduler airflow scheduler --skip-serve-logs
  else
    start_bg "$d" api-server airflow api-server --host 127.0.0.1 --port "$port" --workers 1
    start_bg "$d" scheduler airflow scheduler --skip-serve-logs
    start_bg "$d" dag-processor airflow dag-processor
  fi
  "$E2E_PY" "$DRIVER" wait-up --major "$M" --url "$url" --user "$AF_USER" --deadline 180 \
    >>"$E2E_LOG" 2>&1
  T_UP="$(($(now_s) - t0))s"

  step "check that every process listens on loopback only"
  # shellcheck disable=SC2046
  "$E2E_PY" "$DRIVER" listeners $(cat "$d/pids") >>"$E2E_LOG" 2>&1

  step "trigger runs, break broken_daily, verify every DAG through the API"
  t0=$(now_s)
  # shellcheck disable=SC2046
  "$E2E_PY" "$DRIVER" prepare --major "$M" --url "$url" --user "$AF_USER" \
    --dags-dir "$d/dags" --broken-src "$HERE/airflow/broken_daily.broken.py.txt" \
    --out "$d/observed.json" --pids $(cat "$d/pids") >>"$E2E_LOG" 2>&1
  T_RUNS="$(($(now_s) - t0))s"
  step "check listeners again (after tasks ran)"
  # shellcheck disable=SC2046
  "$E2E_PY" "$DRIVER" listeners $(cat "$d/pids") >>"$E2E_LOG" 2>&1
  summary=$("$E2E_PY" - "$d/observed.json" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
def short(d, e):
    f = e["dag"] or {}
    flags = [k for k in ("is_paused", "has_import_errors", "is_stale") if f.get(k)]
    if f.get("is_active") is False:
        flags.append("inactive")
    runs = ",".join(r["state"] for r in e["runs"]) or "no runs"
    return f"{d.replace('_daily', '')}={runs}{'[' + ' '.join(flags) + ']' if flags else ''}"
print(" ".join(short(d, e) for d, e in o["dags"].items()))
EOF
  )
  say "  ok   airflow$M: Airflow $ver verified via API (venv $T_VENV, up $T_UP, runs+break $T_RUNS): $summary"

  if ((KEEP)); then
    local stop
    stop="kill -- $(sed 's/^/-/' "$d/pids" | tr '\n' ' ')"
    say "  keep airflow$M: $url  user $AF_USER  password $E2E_AIRFLOW_PASSWORD  AIRFLOW_HOME=$AIRFLOW_HOME"
    say "       venv $VENV; config $d/cfg/tablestat.toml; stop with: $stop; rm -rf $TMP"
  fi

  step "run tablestat"
  local cfg=$d/cfg/tablestat.toml rc=0
  write_config "$cfg" "$M" "$port"
  if ! { [[ $BIN == */* ]] && [[ -f $BIN && -x $BIN ]]; } \
    && ! { [[ $BIN != */* ]] && command -v "$BIN" >/dev/null 2>&1; }; then
    say "FAIL airflow$M: tablestat binary missing: $BIN (the Airflow side above is fine)"
    return 3
  fi
  # run_ts NAME ARGS...: run BIN from $d/cfg, stdout to $d/NAME.json; sets RC_<NAME>
  run_ts() {
    local name=$1 r=0
    shift
    (cd "$d/cfg" && timeout 120 "$BIN" --config "$cfg" "$@" >"$d/$name.json" 2>"$d/$name.err") || r=$?
    log "tablestat $* -> exit $r"
    print_file "tablestat $name stderr" "$d/$name.err" 40 >>"$E2E_LOG"
    declare -g "RC_$name=$r"
    if ((r == 124)); then
      say "FAIL airflow$M: tablestat $* did not finish within 120 s"
      return 3
    fi
    if ! "$E2E_PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/$name.json" 2>/dev/null; then
      say "FAIL airflow$M: tablestat $* printed no JSON document (exit $r); stderr: $(head -c 300 "$d/$name.err" | tr '\n' ' ')"
      return 3
    fi
  }
  run_ts poll1 poll --once --json || return 3    # fresh database
  run_ts poll2 poll --once --json || return 3    # same database: history kept, states unchanged
  run_ts status status --json || return 3        # read back from the database
  rc=$RC_poll1
  # shellcheck disable=SC2154  # RC_* are set by run_ts through declare -g
  if ! "$E2E_PY" "$HERE/airflow/check_tablestat.py" "$d/observed.json" "$d/cfg/history.db" \
    "$d/poll1.json" "$RC_poll1" "$d/poll2.json" "$RC_poll2" "$d/status.json" "$RC_status" \
    >"$d/check.txt" 2>&1; then
    say "FAIL airflow$M: tablestat output differs from the expected states:"
    cat "$d/check.txt"
    return 3
  fi
  say "PASS airflow$M: Airflow $ver, tablestat states as expected (poll, poll again, status: exit $rc; history.db 0600)"
  scheduler_stops "$M" "$d" "$port" "$url" || return 3
}

# scheduler_stops M DIR PORT URL: a DAG scheduled every minute runs; the scheduler is stopped
# (API left up): no run starts and nothing fails, yet tablestat must say late, then missed,
# naming the scheduler; restarted, the table is up again.
scheduler_stops() {
  local M=$1 d=$2 url=$4 cfg=$2/cfg/late.toml t0 seen line state reason
  step "scheduler stop: minutely_e2e runs, then the scheduler is stopped"
  # the main config's [airflow] and [store], another database, one product
  sed -n '1,/^path = /p' "$d/cfg/tablestat.toml" | sed 's/^path = "history.db"/path = "late.db"/' >"$cfg"
  # late_after 30 s rather than the default 2 min: the same rule, sooner (CI time)
  printf '\n[[product]]\nid = "minutely"\nname = "Minutely table"\ndag = "minutely_e2e"\ntask = "dbt_build"\nlate_after = "30s"\n' >>"$cfg"
  "$E2E_PY" "$DRIVER" quiet --major "$M" --url "$url" --user "$AF_USER" --dag minutely_e2e --deadline 240 \
    >>"$E2E_LOG" 2>&1
  freshness() { # one poll; prints "state<TAB>reason" of the table's freshness
    (cd "$d/cfg" && timeout 60 "$BIN" --config "$cfg" poll --once --json >"$d/late.json" 2>>"$d/late.err") || true
    "$E2E_PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["products"][0]["metrics"]["freshness"]; print(m["state"] + "\t" + m["reason"])' "$d/late.json"
  }
  line=$(freshness)
  log "before the stop: $line"
  [[ $line == up* ]] || { say "FAIL airflow$M: minutely_e2e not up before the scheduler stopped: $line"; return 3; }
  # shellcheck disable=SC2046
  stop_tree $(cat "$d/scheduler.pid")
  t0=$(now_s)
  log "scheduler stopped"
  seen=""
  while :; do
    line=$(freshness)
    state=${line%%$'\t'*} reason=${line#*$'\t'}
    log "$(($(now_s) - t0))s after the stop: $line"
    if [[ $state == degraded && $reason == late:* && -z $seen ]]; then
      seen="late after $(($(now_s) - t0))s"
    elif [[ $state == down && $reason == missed:* ]]; then
      [[ -n $seen ]] || { say "FAIL airflow$M: missed without being late first: $reason"; return 3; }
      [[ $reason == *"scheduler has not sent a heartbeat since"* ]] \
        || { say "FAIL airflow$M: the missed reason does not name the scheduler: $reason"; return 3; }
      seen="$seen, missed after $(($(now_s) - t0))s"
      break
    elif [[ $state != up && $state != degraded ]]; then
      say "FAIL airflow$M: freshness $state while the scheduler is stopped: $reason"
      return 3
    fi
    (($(now_s) - t0 < 420)) || { say "FAIL airflow$M: not late then missed within 420 s; last: $line"; return 3; }
    sleep 10
  done
  step "scheduler restarted"
  start_bg "$d" scheduler-again airflow scheduler --skip-serve-logs
  t0=$(now_s)
  while :; do
    sleep 15
    line=$(freshness)
    log "$(($(now_s) - t0))s after the restart: $line"
    [[ $line == up* ]] && break
    (($(now_s) - t0 < 300)) || { say "FAIL airflow$M: not up within 300 s of the restart; last: $line"; return 3; }
  done
  say "PASS airflow$M: scheduler stopped: $seen (scheduler named); up $(($(now_s) - t0))s after the restart"
}

# shop_dbt CONFIG: the dbt part of both_at_once. Copies real_dbt.sh's failing build to
# $SHOP_DIR, runs shop_local on Airflow 3 (real dbt inside the task) and shop_cloud on Airflow 2,
# starts the dbt Cloud fake, and appends the two dbt sources and their products to CONFIG.
# Returns 1 (after a note) when real_dbt.sh's build is not at hand, 3 on a failure.
shop_dbt() {
  local cfg=$1 d=$TMP/both pc="" i m created finished
  if [[ ! -x $DBT_BIN || ! -f $DBT_BUILT/shop.duckdb ]]; then
    if [[ ${E2E_REQUIRE_DBT:-0} == 1 ]]; then
      say "FAIL both: no dbt venv ($DBT_BIN) or build ($DBT_BUILT): run tests/e2e/real_dbt.sh first"
      return 3
    fi
    say "note both: dbt part skipped: run tests/e2e/real_dbt.sh first (or E2E_REQUIRE_DBT=1 to fail)"
    return 1
  fi
  step "both at once: the dbt project for shop_local (copy of $DBT_BUILT)"
  rm -rf "$SHOP_DIR"
  cp -a "$DBT_BUILT" "$SHOP_DIR"
  rm -rf "$SHOP_DIR/target" "$SHOP_DIR/logs"
  step "both at once: shop_local on Airflow 3 runs real dbt"
  "$E2E_PY" "$DRIVER" run --major 3 --url "http://127.0.0.1:$(cat "$TMP/af3/port")" --dag shop_local \
    --out "$d/shop_local.json" --deadline 240 >>"$E2E_LOG" 2>&1 || { say "FAIL both: shop_local did not finish"; return 3; }
  step "both at once: shop_cloud on Airflow 2 leaves a dbt Cloud run id in XCom"
  "$E2E_PY" "$DRIVER" run --major 2 --url "http://127.0.0.1:$(cat "$TMP/af2/port")" --dag shop_cloud \
    --out "$d/shop_cloud.json" --deadline 240 >>"$E2E_LOG" 2>&1 || { say "FAIL both: shop_cloud did not finish"; return 3; }
  if ! "$E2E_PY" - "$d/shop_local.json" "$d/shop_cloud.json" "$SHOP_DIR/target/run_results.json" >>"$E2E_LOG" 2>&1 <<'PY'
import json, os, sys
for f in sys.argv[1:3]:
    run = json.load(open(f))
    assert run["state"] == "failed" and run["tasks"]["dbt_build"]["state"] == "failed", f"{f}: {run}"
assert os.path.isfile(sys.argv[3]), "real dbt inside the Airflow task wrote no target/run_results.json"
PY
  then
    say "FAIL both: the shop DAG runs did not end as expected: $(tail -1 "$E2E_LOG")"
    return 3
  fi
  step "both at once: dbt Cloud fake"
  export E2E_DBT_CLOUD_TOKEN=tablestat-e2e-dbt-cloud-token
  created=$("$E2E_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"]["dbt_build"]["start_date"])' "$d/shop_cloud.json")
  finished=$("$E2E_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"]["dbt_build"]["end_date"])' "$d/shop_cloud.json")
  "$E2E_PY" "$HERE/dbt/fake_dbt_cloud.py" --port-file "$d/cloud.port" --artifacts "$HERE/../fixtures/dbt/test_failures" \
    --created "$created" --finished "$finished" >"$d/fake_dbt_cloud.log" 2>&1 &
  echo $! >>"$TMP/af2/pids"   # stopped with Airflow 2's processes (and by the EXIT trap)
  for ((i = 0; i < 100; i++)); do
    [[ -s $d/cloud.port ]] && { pc=$(cat "$d/cloud.port"); break; }
    sleep 0.1
  done
  if [[ -z $pc ]]; then
    print_file "fake dbt Cloud" "$d/fake_dbt_cloud.log" >>"$E2E_LOG"
    say "FAIL both: the dbt Cloud fake did not start"
    return 3
  fi
  cat >>"$cfg" <<EOF

[[dbt]]
name = "shop-local"
source = "local"
target_dir = "$SHOP_DIR/target"

[[dbt]]
name = "shop-cloud"
source = "cloud"
url = "http://127.0.0.1:$pc"
account_id = 1
token_env = "E2E_DBT_CLOUD_TOKEN"
EOF
  for m in $SHOP_MODELS; do
    printf '\n[[product]]\nid = "local_%s"\ndag = "shop_local"\ntask = "dbt_build"\nmodel = "%s"\nairflow = "core"\ndbt = "shop-local"\n' \
      "$m" "$m" >>"$cfg"
    printf '\n[[product]]\nid = "cloud_%s"\ndag = "shop_cloud"\ntask = "dbt_build"\nmodel = "%s"\nairflow = "legacy"\ndbt = "shop-cloud"\ndbt_job = 42\n' \
      "$m" "$m" >>"$cfg"
  done
}

SHOP_MODELS="stg_orders stg_customers stg_payments fct_orders dim_customers fct_daily_revenue"

# shop_states PREFIX down|unknown: the expected states of the shop products with PREFIX: the
# test_failures data as dbt/check_tablestat.py's `failing` judges it, or all unknown
shop_states() {
  local p=$1 m
  if [[ $2 == unknown ]]; then
    for m in $SHOP_MODELS; do echo "${p}_$m=unknown"; done
    return
  fi
  echo "${p}_stg_orders=down ${p}_stg_orders.uniqueness=down ${p}_stg_orders.correctness=down ${p}_stg_orders.freshness=up"
  echo "${p}_stg_customers=down ${p}_stg_customers.completeness=down ${p}_stg_payments=up"
  for m in fct_orders dim_customers fct_daily_revenue; do echo "${p}_$m=down ${p}_$m.freshness=down"; done
}

# both_at_once: one config watching Airflow 2 and 3 (and two dbt sources) at the same time;
# then Airflow 2 stops.
both_at_once() {
  local d=$TMP/both p2 p3 cfg
  mkdir -p "$d"
  p2=$(cat "$TMP/af2/port") p3=$(cat "$TMP/af3/port")
  cfg=$d/tablestat.toml
  cat >"$cfg" <<EOF
[[airflow]]
name = "legacy"
url = "http://127.0.0.1:$p2"
api = "v1"
auth = "basic"
username = "$AF_USER"
password_env = "E2E_AIRFLOW_PASSWORD"
timeout = "10s"

[[airflow]]
name = "core"
url = "http://127.0.0.1:$p3"
api = "v2"
auth = "password"
username = "$AF_USER"
password_env = "E2E_AIRFLOW_PASSWORD"
timeout = "10s"

[store]
path = "both.db"
EOF
  local id dag source
  while read -r id dag source; do
    printf '\n[[product]]\nid = "%s"\ndag = "%s"\ntask = "dbt_build"\nairflow = "%s"\n' "$id" "$dag" "$source" >>"$cfg"
  done <<'EOF'
healthy2 healthy_daily legacy
failing2 failing_daily legacy
healthy3 healthy_daily core
paused3 paused_daily core
EOF
  local rc=0 shop=() shop_after=() what="Airflow 2 and 3 in one config"
  shop_dbt "$cfg" || rc=$?
  ((rc == 3)) && return 3
  if ((rc == 0)); then
    # shellcheck disable=SC2207
    shop=($(shop_states local down) $(shop_states cloud down) shop-local=reachable shop-cloud=reachable)
    # shellcheck disable=SC2207
    shop_after=($(shop_states local down) $(shop_states cloud unknown))
    what="Airflow 2 and 3, a local target/ written by real dbt in an Airflow 3 task and a dbt Cloud run named in Airflow 2's XCom, in one config"
  fi
  # check_both FILE EXPECTED...: each "id=state", "id.metric=state" or "source=reachable|unreachable"
  check_both() {
    "$E2E_PY" - "$@" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
seen = {p["id"]: p["state"] for p in doc["products"]}
seen |= {f'{p["id"]}.{m}': v["state"] for p in doc["products"] for m, v in p["metrics"].items()}
seen |= {s["name"]: "reachable" if s["reachable"] else "unreachable" for s in doc.get("sources", [])}
wrong = [w for w in sys.argv[2:] if seen.get(w.split("=")[0]) != w.split("=")[1]]
if wrong:
    sys.exit(f"expected {' '.join(wrong)}; got {seen}")
EOF
  }
  step "both at once: one config, Airflow 2 and 3"
  (cd "$d" && timeout 120 "$BIN" --config "$cfg" poll --once --json >"$d/poll1.json" 2>"$d/poll1.err") || true
  if ! check_both "$d/poll1.json" healthy2=up failing2=down healthy3=up paused3=down legacy=reachable core=reachable \
    "${shop[@]}" >>"$E2E_LOG" 2>&1; then
    print_file "poll stderr" "$d/poll1.err" 30 >>"$E2E_LOG"
    say "FAIL both: $what: $(grep '^expected' "$E2E_LOG" | tail -1)"
    return 3
  fi
  # the dbt Cloud run was found by the id in Airflow 2's XCom, not by listing the job's runs
  if ((rc == 0)) && { grep -q 'GET /api/v2/accounts/1/runs/?' "$d/fake_dbt_cloud.log" \
    || ! grep -q 'GET /api/v2/accounts/1/runs/4242/' "$d/fake_dbt_cloud.log"; }; then
    print_file "fake dbt Cloud" "$d/fake_dbt_cloud.log" >>"$E2E_LOG"
    say "FAIL both: the dbt Cloud run was not found by the run id in Airflow 2's XCom"
    return 3
  fi
  step "both at once: Airflow 2 stops"
  # shellcheck disable=SC2046
  stop_tree $(cat "$TMP/af2/pids")
  : >"$TMP/af2/pids"
  (cd "$d" && timeout 120 "$BIN" --config "$cfg" poll --once --json >"$d/poll2.json" 2>"$d/poll2.err") || true
  if ! check_both "$d/poll2.json" healthy2=unknown failing2=unknown healthy3=up paused3=down \
    legacy=unreachable core=reachable "${shop_after[@]}" >>"$E2E_LOG" 2>&1; then
    say "FAIL both: with Airflow 2 stopped: $(grep '^expected' "$E2E_LOG" | tail -1)"
    return 3
  fi
  say "PASS both: $what; Airflow 2 stopped made only its products unknown"
}

BOTH=0
((${#MAJORS[@]} == 2)) && BOTH=1
failed=()
for M in "${MAJORS[@]}"; do
  E2E_LOG=$TMP/af$M.log
  : >"$E2E_LOG"
  set +e
  (
    set -e
    run_major "$M"
  )
  rc=$?
  set -e
  if ((rc == 3)); then
    failed+=("$M")   # tablestat step failed: message already printed, no server logs needed
    print_file "log" "$E2E_LOG" 60
  elif ((rc != 0)); then
    failed+=("$M")
    say "FAIL airflow$M: Airflow ${VERSION[$M]} setup failed (exit $rc); last step: $(grep '^\[.*\] == ' "$E2E_LOG" | tail -1 | sed 's/.*== //')"
    print_file "log" "$E2E_LOG"
    for f in "$TMP/af$M"/*.log; do print_file "$(basename "$f")" "$f" 60; done
  elif [[ ${E2E_VERBOSE:-0} == 1 ]]; then
    print_file "log" "$E2E_LOG"
  fi
done

if ((BOTH && ${#failed[@]} == 0)); then
  E2E_LOG=$TMP/both.log
  : >"$E2E_LOG"
  if ! both_at_once; then
    failed+=("2+3 at once")
    print_file "log" "$E2E_LOG" 60
  fi
fi

if ((${#failed[@]})); then
  echo "real_airflow.sh: FAILED for Airflow ${failed[*]}"
  exit 1
fi
echo "real_airflow.sh: all passed (Airflow ${MAJORS[*]})"
