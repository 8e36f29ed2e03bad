#!/usr/bin/env bash
# Every real end-to-end check, one after the other: export_page.sh, real_dbt.sh, real_airflow.sh.
#
# usage: tests/e2e/run_all.sh BIN      e.g. tests/e2e/run_all.sh "$PWD/target/release/tablestat"
# Prints each script's own lines (quiet on success, the log on failure), then one
# PASS/FAIL line per script with its time, and a total. Exit 0 only if both passed.
# env: E2E_STEP_TIMEOUT  seconds allowed per script (default 900); the rest are passed through
#      (TABLESTAT_E2E_CACHE, TABLESTAT_E2E_DBT_OUT, E2E_PYTHON, E2E_VERBOSE).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { grep -m1 '^# usage:' "${BASH_SOURCE[0]}" | sed 's/^# //'; }
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  "" | -*) usage >&2; exit 64 ;;
esac
(($# == 1)) || { usage >&2; exit 64; }
BIN=$1
[[ $BIN != */* || $BIN == /* ]] || BIN=$PWD/$BIN
bin_ok() { if [[ $BIN == */* ]]; then [[ -f $BIN && -x $BIN ]]; else command -v "$BIN" >/dev/null 2>&1; fi; }
if ! bin_ok; then
  echo "FAIL run_all.sh: tablestat binary not found or not executable: $BIN (build it first: cargo build --release)"
  exit 1
fi
LIMIT=${E2E_STEP_TIMEOUT:-900}
# real_airflow.sh's both-at-once part runs real dbt on real_dbt.sh's build: here it must
export E2E_REQUIRE_DBT=${E2E_REQUIRE_DBT:-1}

T_START=$(date +%s)
lines=() failed=0
for script in export_page.sh real_dbt.sh real_airflow.sh; do
  echo "== $script"
  t0=$(date +%s)
  # --foreground: the script stays in this process group (Ctrl-C reaches it); on timeout it gets
  # SIGTERM and its EXIT trap stops its servers
  timeout --foreground -k 60 "$LIMIT" "$HERE/$script" "$BIN"
  rc=$?
  dt=$(($(date +%s) - t0))
  if ((rc == 0)); then
    lines+=("PASS $script (${dt}s)")
  elif ((rc == 124)); then
    lines+=("FAIL $script (timed out after ${LIMIT}s)")
    failed=1
  else
    lines+=("FAIL $script (exit $rc, ${dt}s)")
    failed=1
  fi
done

echo
printf '%s\n' "${lines[@]}"
total=$(($(date +%s) - T_START))
if ((failed)); then
  echo "run_all.sh: FAILED (total ${total}s)"
  exit 1
fi
echo "run_all.sh: all passed (total ${total}s)"
