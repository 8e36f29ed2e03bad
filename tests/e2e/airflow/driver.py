#!/usr/bin/env python3
"""Drives a real Airflow 2 (/api/v1, basic auth) or 3 (/api/v2, JWT) for real_airflow.sh.

Standard library only. Subcommands:
  freeport                      print a free TCP port on 127.0.0.1
  wait-up     --major N --url U wait until the API answers (and, on 3.x, a token can be had)
  prepare     --major N --url U --dags-dir D --broken-src F --out OBSERVED.json
              wait for the DAGs, pause/unpause, trigger one run of each non-paused DAG, wait
              until each run finished, break broken_daily, wait for its import error, then
              verify every DAG's state through the API and write what it saw to OBSERVED.json
  quiet       --major N --url U --dag D
              unpause D, then wait for a moment when its latest run succeeded, no run is
              queued or running, and the minute is young (a scheduler stopped then leaves
              no run half done: a run still "running" is never late)
  run         --major N --url U --dag D --out RUN.json
              unpause D, trigger one run through the REST API, wait until it finished, and
              write the run id, its state and each task's state, start and end
  tree        PID...            print these PIDs and all their descendants
  listeners   PID...            fail if a process in these process trees listens on a
                                non-loopback address (TCP or UDP)
Credentials: --user (default admin) and the password from $E2E_AIRFLOW_PASSWORD.
Deadlines are in seconds; every wait polls (0.5-2 s) and fails with what it last saw.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DAGS = ["healthy_daily", "failing_daily", "paused_daily", "broken_daily", "upstream_fail_daily"]
TRIGGERED = ["healthy_daily", "failing_daily", "upstream_fail_daily", "broken_daily"]
EXPECTED_RUNS = {  # dag_id -> (run state, {task_id: task state})
    "healthy_daily": ("success", {"extract": "success", "dbt_build": "success"}),
    "failing_daily": ("failed", {"extract": "success", "dbt_build": "failed"}),
    "upstream_fail_daily": ("failed", {"extract": "failed", "dbt_build": "upstream_failed"}),
    "broken_daily": ("success", {"extract": "success", "dbt_build": "success"}),
}
BROKEN_MARKER = "E2E_BROKEN_MARKER"


def log(msg):
    print(f"[driver {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Fail(Exception):
    pass


class Fatal(Exception):
    """a failure that no amount of waiting fixes (wait_for does not retry it)"""


class Api:
    def __init__(self, major, url, user, password):
        self.major = major
        self.root = url.rstrip("/")
        self.base = self.root + ("/api/v1" if major == 2 else "/api/v2")
        self.user, self.password = user, password
        self.token = None

    def _raw(self, method, url, body=None, headers=None, timeout=10):
        h = {"Accept": "application/json"}
        h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")[:300]
        return status, parsed

    def login(self):
        status, body = self._raw("POST", self.root + "/auth/token",
                                 {"username": self.user, "password": self.password})
        if status != 201 or not isinstance(body, dict) or "access_token" not in body:
            raise Fail(f"POST /auth/token -> {status} {body}")
        self.token = body["access_token"]

    def _auth(self):
        if self.major == 2:
            cred = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return {"Authorization": "Basic " + cred}
        if self.token is None:
            self.login()
        return {"Authorization": "Bearer " + self.token}

    def call(self, method, path, body=None, ok=(200,)):
        """One API call; returns (status, json). Raises Fail unless status is in ok."""
        status, parsed = self._raw(method, self.base + path, body, self._auth())
        if self.major == 3 and (status == 401 or (status == 403 and isinstance(parsed, dict)
                                                  and parsed.get("detail") == "Invalid JWT token")):
            self.login()
            status, parsed = self._raw(method, self.base + path, body, self._auth())
        if ok is not None and status not in ok:
            raise Fail(f"{method} {path} -> HTTP {status}: {json.dumps(parsed)[:500]}")
        return status, parsed

    def health_path(self):
        return "/health" if self.major == 2 else "/monitor/health"


def enc(s):
    return urllib.parse.quote(s, safe="")


def wait_for(what, deadline_s, probe, interval=1.0):
    """Poll probe() until it returns a truthy value; probe may return (False, last_seen)."""
    t0 = time.time()
    last = None
    while True:
        try:
            res = probe()
        except (Fail, OSError, urllib.error.URLError, socket.timeout) as e:
            res, last = None, f"{type(e).__name__}: {e}"
        if isinstance(res, tuple):
            done, last = res
            res = done and (last if last is not None else True)
        if res:
            log(f"{what}: ok after {time.time() - t0:.1f}s")
            return res
        if time.time() - t0 > deadline_s:
            raise Fail(f"timed out after {deadline_s}s waiting for {what}; last seen: {last}")
        time.sleep(interval)


def cmd_wait_up(api, args):
    def probe():
        status, body = api._raw("GET", api.base + api.health_path(), timeout=5)
        if status != 200:
            return False, f"health HTTP {status}"
        # /version needs no auth on either major: also list DAGs, which proves the auth setup
        # (2.x: the basic_auth backend is enabled; 3.x: /auth/token gives a working JWT)
        st, v = api.call("GET", "/version", ok=None)
        st2, d = api.call("GET", "/dags?limit=1", ok=None)
        if st != 200 or st2 != 200:
            return False, f"version HTTP {st} {v}; dags HTTP {st2} {d}"
        return True, v
    v = wait_for(f"Airflow {args.major} API at {api.base}", args.deadline, probe)
    log(f"version: {v}")


def dag_flags(api, dag_id):
    st, d = api.call("GET", f"/dags/{dag_id}", ok=(200, 404))
    if st == 404:
        return None
    keep = ["dag_id", "is_paused", "is_active", "is_stale", "has_import_errors", "fileloc",
            "relative_fileloc", "timetable_description", "last_parsed_time"]
    return {k: d.get(k) for k in keep if k in d}


def runs_of(api, dag_id):
    order = "-execution_date" if api.major == 2 else "-run_after"
    _, body = api.call("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by={order}")
    return body["dag_runs"]


def task_states(api, dag_id, run_id):
    _, body = api.call("GET", f"/dags/{dag_id}/dagRuns/{enc(run_id)}/taskInstances?limit=100")
    return {ti["task_id"]: ti["state"] for ti in body["task_instances"]}


def import_errors(api):
    _, body = api.call("GET", "/importErrors?limit=100")
    return body["import_errors"]


def cmd_prepare(api, args):
    t_start = time.time()
    phases = {}
    # 1. every DAG parsed and listed, none with an import error yet
    def all_listed():
        seen = {d: dag_flags(api, d) for d in DAGS}
        missing = [d for d, f in seen.items() if f is None or f.get("has_import_errors")]
        return (not missing), (seen if not missing else f"not yet listed/parsed: {missing}")
    wait_for("all 5 DAGs listed", args.deadline_dags, all_listed, interval=1.0)
    phases["dags_listed_s"] = round(time.time() - t_start, 1)

    # 2. pause state: paused_daily paused (it is created paused; PATCH only if it is not)
    for d in DAGS:
        want = d == "paused_daily"
        f = dag_flags(api, d)
        if f["is_paused"] != want:
            log(f"{d}: is_paused={f['is_paused']}, PATCHing to {want}")
            api.call("PATCH", f"/dags/{d}?update_mask=is_paused", {"is_paused": want})

    # 3. one run of each non-paused DAG, through the REST API
    run_ids = {}
    body = {} if api.major == 2 else {"logical_date": None}
    for d in TRIGGERED:
        _, run = api.call("POST", f"/dags/{d}/dagRuns", body)
        run_ids[d] = run["dag_run_id"]
        log(f"triggered {d}: {run['dag_run_id']} ({run['state']})")
    t_trig = time.time()

    watched = {}  # listeners seen while tasks ran (task processes come and go)

    def all_finished():
        if args.pids:
            seen, bad, _ = listeners(args.pids)
            for item in seen:
                watched.setdefault(item.split(" pid ")[0], item)
            if bad:
                raise Fatal("non-loopback listener while tasks ran: " + "; ".join(bad))
        states = {}
        for d, rid in run_ids.items():
            _, run = api.call("GET", f"/dags/{d}/dagRuns/{enc(rid)}")
            states[d] = run["state"]
        done = all(s in ("success", "failed") for s in states.values())
        return done, states
    wait_for("triggered runs finished", args.deadline_runs, all_finished, interval=2.0)
    phases["runs_finished_s"] = round(time.time() - t_trig, 1)
    if args.pids:
        log(f"listeners sampled while the runs went on: {sorted(watched.values())}")

    # 4. broken_daily: it ran fine once; now its file starts raising at import
    t_break = time.time()
    dst = os.path.join(args.dags_dir, "broken_daily.py")
    tmp = dst + ".tmp"
    shutil.copyfile(args.broken_src, tmp)
    os.replace(tmp, dst)
    later = time.time() + 2
    os.utime(dst, (later, later))

    def broken_seen():
        f = dag_flags(api, "broken_daily")
        errs = [e for e in import_errors(api) if "broken_daily" in e.get("filename", "")]
        ok = bool(f and f.get("has_import_errors") and errs
                  and BROKEN_MARKER in errs[0].get("stack_trace", ""))
        return ok, {"dag": f, "import_errors": len(errs)}
    wait_for("broken_daily import error", args.deadline_broken, broken_seen, interval=1.0)
    phases["broken_seen_s"] = round(time.time() - t_break, 1)

    # 5. verify everything through the API, record what it said
    problems = []
    observed = {"major": api.major, "phases": phases, "dags": {}}
    _, observed["version"] = api.call("GET", "/version")
    _, observed["health"] = api.call("GET", api.health_path())
    for d in DAGS:
        f = dag_flags(api, d)
        runs = runs_of(api, d)
        entry = {"dag": f, "runs": []}
        for r in runs:
            entry["runs"].append({"dag_run_id": r["dag_run_id"], "state": r["state"],
                                  "run_type": r.get("run_type"),
                                  "logical_date": r.get("logical_date"),
                                  "tasks": task_states(api, d, r["dag_run_id"])})
        observed["dags"][d] = entry
        if d in EXPECTED_RUNS:
            want_state, want_tasks = EXPECTED_RUNS[d]
            mine = [r for r in entry["runs"] if r["dag_run_id"] == run_ids[d]]
            if not mine:
                problems.append(f"{d}: triggered run {run_ids[d]} not in the run list")
            else:
                r = mine[0]
                if r["state"] != want_state:
                    problems.append(f"{d}: run state {r['state']}, expected {want_state}")
                if r["tasks"] != want_tasks:
                    problems.append(f"{d}: task states {r['tasks']}, expected {want_tasks}")
            others = [r for r in entry["runs"] if r["dag_run_id"] != run_ids[d]]
            if others:  # tolerated (e.g. a scheduled run at midnight UTC), but reported
                log(f"note: {d} has {len(others)} other run(s): "
                    f"{[(r['dag_run_id'], r['state']) for r in others]}")
        if d == "paused_daily":
            if not f or f.get("is_paused") is not True:
                problems.append(f"paused_daily: not paused: {f}")
            if entry["runs"]:
                problems.append(f"paused_daily: has runs: {entry['runs']}")
        elif d == "broken_daily":
            if not f or not f.get("has_import_errors"):
                problems.append(f"broken_daily: no import error flagged: {f}")
        elif f is None or f.get("is_paused") or f.get("has_import_errors"):
            problems.append(f"{d}: unexpected DAG flags {f}")
    errs = import_errors(api)
    observed["import_errors"] = [{"filename": e["filename"], "first_line_of_error":
                                  e["stack_trace"].strip().splitlines()[-1]} for e in errs]
    if len(errs) != 1 or "broken_daily" not in errs[0]["filename"]:
        problems.append(f"import errors: expected only broken_daily.py, got {observed['import_errors']}")
    st, nd = api.call("GET", "/dags/no_such_dag", ok=None)
    observed["no_such_dag"] = {"status": st, "body": nd}
    if st != 404:
        problems.append(f"/dags/no_such_dag -> HTTP {st}, expected 404")
    health = observed["health"]
    for comp in ("metadatabase", "scheduler"):
        if (health.get(comp) or {}).get("status") != "healthy":
            problems.append(f"health: {comp} is {health.get(comp)}")
    observed["problems"] = problems
    with open(args.out, "w") as fh:
        json.dump(observed, fh, indent=2)
    # a compact summary for the log
    for d, e in observed["dags"].items():
        flags = {k: v for k, v in (e["dag"] or {}).items()
                 if k in ("is_paused", "is_active", "is_stale", "has_import_errors")}
        runs = [(r["state"], r["tasks"]) for r in e["runs"]]
        log(f"seen {d}: {flags} runs={runs}")
    log(f"seen import errors: {observed['import_errors']}")
    log(f"seen no_such_dag: HTTP {st}")
    if problems:
        raise Fail("Airflow side not as expected:\n  " + "\n  ".join(problems))


def descendants(roots):
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as fh:
                stat = fh.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = set(), [int(r) for r in roots]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def listeners(roots):
    """(all listening sockets, those not on loopback) of the process trees under roots"""
    pids = descendants(roots)
    inode_pid = {}
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    target = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inode_pid[target[8:-1]] = p
        except OSError:
            continue

    def addr(hexaddr, v6):
        ip, port = hexaddr.split(":")
        raw = bytes.fromhex(ip)
        if v6:
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
            return socket.inet_ntop(socket.AF_INET6, raw), int(port, 16)
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)

    bad, seen = [], []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = open(f"/proc/net/{proto}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode not in inode_pid:
                continue
            if proto.startswith("tcp") and state != "0A":  # LISTEN only
                continue
            ip, port = addr(local, proto.endswith("6"))
            if proto.startswith("udp") and port == 0:
                continue
            try:
                cmd = open(f"/proc/{inode_pid[inode]}/cmdline").read().replace("\0", " ")[:80]
            except OSError:
                cmd = "?"
            item = f"{proto} {ip}:{port} pid {inode_pid[inode]} ({cmd.strip()})"
            seen.append(item)
            if ip not in ("127.0.0.1", "::1") and not ip.startswith("127."):
                bad.append(item)
    return seen, bad, len(pids)


def cmd_listeners(args):
    seen, bad, n = listeners(args.pids)
    for s in seen:
        log(f"listening: {s}")
    if bad:
        raise Fail("processes listen on non-loopback addresses:\n  " + "\n  ".join(bad))
    log(f"listeners: {len(seen)} socket(s) in {n} processes, all on loopback")


def cmd_quiet(api, args):
    dag = args.dag
    api.call("PATCH", f"/dags/{dag}?update_mask=is_paused", {"is_paused": False})

    def probe():
        runs = runs_of(api, dag)
        states = [r["state"] for r in runs]
        active = [s for s in states if s in ("queued", "running")]
        second = time.gmtime().tm_sec
        done = bool(runs) and runs[0]["state"] == "success" and not active and 3 <= second <= 30
        return done, f"runs {states[:5]}, second {second}"

    wait_for(f"{dag}: a finished run and none active", args.deadline, probe, interval=0.5)


def cmd_run(api, args):
    dag = args.dag
    api.call("PATCH", f"/dags/{dag}?update_mask=is_paused", {"is_paused": False})
    body = {} if api.major == 2 else {"logical_date": None}
    _, run = api.call("POST", f"/dags/{dag}/dagRuns", body)
    rid = run["dag_run_id"]
    log(f"triggered {dag}: {rid} ({run['state']})")

    def finished():
        _, r = api.call("GET", f"/dags/{dag}/dagRuns/{enc(rid)}")
        return r["state"] in ("success", "failed"), r["state"]
    state = wait_for(f"{dag} run {rid} finished", args.deadline, finished, interval=1.0)
    _, body = api.call("GET", f"/dags/{dag}/dagRuns/{enc(rid)}/taskInstances?limit=100")
    tasks = {ti["task_id"]: {k: ti.get(k) for k in ("state", "start_date", "end_date")}
             for ti in body["task_instances"]}
    log(f"{dag} run {rid}: {state}; tasks {tasks}")
    with open(args.out, "w") as fh:
        json.dump({"dag_run_id": rid, "state": state, "tasks": tasks}, fh, indent=2)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    for name in ("wait-up", "prepare", "quiet", "run"):
        p = sub.add_parser(name)
        p.add_argument("--major", type=int, choices=(2, 3), required=True)
        p.add_argument("--url", required=True)
        p.add_argument("--user", default="admin")
        p.add_argument("--deadline", type=float, default=180)
        if name in ("quiet", "run"):
            p.add_argument("--dag", required=True)
        if name == "run":
            p.add_argument("--out", required=True)
        if name == "prepare":
            p.add_argument("--dags-dir", required=True)
            p.add_argument("--broken-src", required=True)
            p.add_argument("--out", required=True)
            p.add_argument("--deadline-dags", type=float, default=120)
            p.add_argument("--deadline-runs", type=float, default=240)
            p.add_argument("--deadline-broken", type=float, default=120)
            p.add_argument("--pids", nargs="*", default=[],
                           help="check these process trees' listeners at every poll")
    p = sub.add_parser("listeners")
    p.add_argument("pids", nargs="+")
    p = sub.add_parser("tree")
    p.add_argument("pids", nargs="+")
    args = ap.parse_args()
    try:
        if args.cmd == "freeport":
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            print(s.getsockname()[1])
            s.close()
        elif args.cmd == "listeners":
            cmd_listeners(args)
        elif args.cmd == "tree":
            print(" ".join(str(p) for p in sorted(descendants(args.pids))))
        else:
            api = Api(args.major, args.url, args.user, os.environ["E2E_AIRFLOW_PASSWORD"])
            {"wait-up": cmd_wait_up, "prepare": cmd_prepare, "quiet": cmd_quiet, "run": cmd_run}[args.cmd](api, args)
    except (Fail, Fatal) as e:
        log(f"FAIL: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
