# shellcheck shell=bash
# Shared helpers for real_airflow.sh and real_dbt.sh (source it; needs E2E_LOG set).
# Cached virtualenvs live in ${TABLESTAT_E2E_CACHE:-$HOME/.cache/tablestat-e2e}/<name>.

E2E_CACHE=${TABLESTAT_E2E_CACHE:-$HOME/.cache/tablestat-e2e}
E2E_PY=${E2E_PYTHON:-python3}

now_s() { date +%s; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >>"$E2E_LOG"; }
say() { printf '%s\n' "$*"; log "$*"; }   # to the terminal and to the log
step() { log "== $*"; }   # what we are doing; the FAIL line quotes the last one

# ensure_venv NAME CONSTRAINTS CHECK_PYTHON PKG...
#   Reuses $E2E_CACHE/NAME if its stamp matches (python version + packages + constraints)
#   and CHECK_PYTHON runs in it; else (re)creates it. Sets VENV and VENV_STATUS.
#   Installs with the pinned constraints file (made by `pip freeze` from a plain install);
#   if that ever fails (e.g. a pinned version no longer installs), retries without it.
# shellcheck disable=SC2034  # VENV_STATUS is read by the callers
ensure_venv() {
  local name=$1 cons=$2 check=$3
  shift 3
  VENV=$E2E_CACHE/$name
  mkdir -p "$E2E_CACHE"
  local want
  want=$({ "$E2E_PY" -c 'import sys; print(sys.version)'; printf '%s\n' "$@"; cat "$cons"; } \
    | sha256sum | cut -c1-16)
  exec 9>"$E2E_CACHE/$name.lock"
  flock 9
  if [[ -f $VENV/.e2e-stamp && $(cat "$VENV/.e2e-stamp") == "$want" ]] \
    && "$VENV/bin/python" -c "$check" >>"$E2E_LOG" 2>&1; then
    VENV_STATUS=reused
  else
    log "creating venv $VENV for: $*"
    rm -rf "$VENV"
    "$E2E_PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -U pip setuptools wheel >>"$E2E_LOG" 2>&1
    if ! "$VENV/bin/python" -m pip install -q -c "$cons" "$@" >>"$E2E_LOG" 2>&1; then
      log "pip install with constraints $cons failed; retrying without constraints"
      "$VENV/bin/python" -m pip install -q "$@" >>"$E2E_LOG" 2>&1
    fi
    "$VENV/bin/python" -m pip check >>"$E2E_LOG" 2>&1 || log "pip check reported problems (above)"
    "$VENV/bin/python" -c "$check" >>"$E2E_LOG" 2>&1
    echo "$want" >"$VENV/.e2e-stamp"
    VENV_STATUS=installed
  fi
  flock -u 9
  exec 9>&-
}

# print_file TITLE FILE [LINES]: a file (or its last LINES lines) framed, for failure reports
print_file() {
  [[ -f $2 ]] || return 0
  echo "----- $1 ($2)${3:+, last $3 lines} -----"
  if [[ -n ${3:-} ]]; then tail -n "$3" "$2"; else cat "$2"; fi
  echo "----- end of $1 -----"
}
