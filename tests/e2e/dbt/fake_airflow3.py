#!/usr/bin/env python3
"""A tiny fake Airflow 3 REST API (standard library only) for real_dbt.sh.

One DAG, shop_daily (active, unpaused, "0 0 * * *"), with one finished DAG run whose tasks are
`extract` (success) and `dbt_build` (the given state, start and end). Shapes follow the real
Airflow 3.3.2 answers captured in tests/fixtures/airflow3/. Auth as Airflow 3's simple auth
manager: POST /auth/token {"username", "password"} -> 201 {"access_token"}; every /api/v2 call
but /version needs "Authorization: Bearer <that token>" (401 {"detail": "Not authenticated"}).

usage: fake_airflow3.py --port-file F --task-state success|failed --task-start ISO --task-end ISO
                        [--user U] (password from $E2E_FAKE_AIRFLOW_PASSWORD)
Binds 127.0.0.1 on a free port (port 0), writes the port to F once it listens, logs one line per
request to stdout, and serves until killed (SIGTERM/SIGINT exit cleanly).
"""
import argparse
import datetime as dt
import json
import os
import secrets
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DAG_ID = "shop_daily"


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def build_world(a):
    ts, te = parse(a.task_start), parse(a.task_end)
    run_start = ts - dt.timedelta(seconds=3)        # extract ran first
    run_end = te + dt.timedelta(seconds=1)
    run_id = f"manual__{run_start.isoformat()}"
    version = {"id": "01a20b19-0000-7000-8000-000000000001", "version_number": 1, "dag_id": DAG_ID,
               "bundle_name": "dags-folder", "bundle_version": None, "created_at": iso(run_start - dt.timedelta(minutes=5)),
               "dag_display_name": DAG_ID, "bundle_url": None}
    dag = {
        "dag_id": DAG_ID, "dag_display_name": DAG_ID, "is_paused": False, "is_stale": False,
        "last_parsed_time": iso(run_start - dt.timedelta(minutes=1)), "last_parse_duration": 0.03,
        "last_expired": None, "bundle_name": "dags-folder", "bundle_version": None,
        "relative_fileloc": "shop_daily.py", "fileloc": "/opt/airflow/dags/shop_daily.py",
        "description": None, "timetable_summary": "0 0 * * *", "timetable_description": "At 00:00",
        "timetable_partitioned": False, "timetable_periodic": True,
        "tags": [{"name": "dbt", "dag_id": DAG_ID, "dag_display_name": DAG_ID}],
        "max_active_tasks": 16, "max_active_runs": 16, "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": False, "has_import_errors": False,
        "next_dagrun_logical_date": None, "next_dagrun_data_interval_start": None,
        "next_dagrun_data_interval_end": None, "next_dagrun_run_after": None,
        "allowed_run_types": None, "owners": ["airflow"], "is_backfillable": True,
        "file_token": "eyJidW5kbGVfbmFtZSI6ImRhZ3MtZm9sZGVyIn0.fake",
    }
    run = {
        "dag_run_id": run_id, "dag_id": DAG_ID, "logical_date": iso(run_start),
        "queued_at": iso(run_start - dt.timedelta(seconds=1)), "start_date": iso(run_start),
        "end_date": iso(run_end), "duration": (run_end - run_start).total_seconds(),
        "data_interval_start": iso(run_start), "data_interval_end": iso(run_start),
        "run_after": iso(run_start), "last_scheduling_decision": iso(run_end), "run_type": "manual",
        "state": "success" if a.task_state == "success" else "failed", "triggered_by": "rest_api",
        "triggering_user_name": "admin", "conf": {}, "note": None, "dag_versions": [version],
        "bundle_version": None, "dag_display_name": DAG_ID, "partition_key": None, "partition_date": None,
    }

    def ti(task_id, state, start, end, n):
        return {
            "id": f"01a20b1a-0000-7000-8000-00000000000{n}", "task_id": task_id, "dag_id": DAG_ID,
            "dag_run_id": run_id, "map_index": -1, "logical_date": iso(run_start), "run_after": iso(run_start),
            "start_date": iso(start), "end_date": iso(end), "duration": round((end - start).total_seconds(), 3),
            "state": state, "try_number": 1, "max_tries": 0, "task_display_name": task_id,
            "dag_display_name": DAG_ID, "hostname": "localhost", "unixname": "airflow", "pool": "default_pool",
            "pool_slots": 1, "queue": "default", "priority_weight": 1, "operator": "BashOperator",
            "operator_name": "BashOperator", "queued_when": iso(start - dt.timedelta(milliseconds=20)),
            "scheduled_when": iso(start - dt.timedelta(milliseconds=30)), "pid": 4242, "executor": None,
            "executor_config": "{}", "note": None, "rendered_map_index": None, "rendered_fields": {},
            "trigger": None, "triggerer_job": None, "dag_version": version,
        }
    tis = [ti("extract", "success", run_start, ts - dt.timedelta(seconds=1), 1),
           ti("dbt_build", a.task_state, ts, te, 2)]
    return dag, run, tis


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request, to stdout
        print(f"[fake-airflow3] {self.command} {self.path} -> {fmt % args}", flush=True)

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def authed(self):
        w = self.server.world
        if self.headers.get("authorization") == f"Bearer {w['token']}":
            return True
        self.send_json(401, {"detail": "Not authenticated"})
        return False

    def do_GET(self):
        w = self.server.world
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        path = urllib.parse.unquote(u.path)
        if path == "/api/v2/version":
            return self.send_json(200, {"version": "3.3.2", "git_version": ".release:fake"})
        if not path.startswith("/api/v2/"):
            return self.send_json(404, {"detail": "Not Found"})
        if not self.authed():
            return None
        if path == "/api/v2/dags":
            off, lim = int(q.get("offset", ["0"])[0]), int(q.get("limit", ["50"])[0])
            dags = [w["dag"]]
            return self.send_json(200, {"dags": dags[off:off + lim], "total_entries": len(dags)})
        if path == "/api/v2/importErrors":
            return self.send_json(200, {"import_errors": [], "total_entries": 0})
        if path == f"/api/v2/dags/{DAG_ID}/dagRuns":
            return self.send_json(200, {"dag_runs": [w["run"]], "total_entries": 1})
        if path.startswith("/api/v2/dags/") and path.endswith("/dagRuns"):
            dag_id = path.split("/")[4]
            return self.send_json(404, {"detail": f"The Dag with ID: `{dag_id}` was not found"})
        if "/xcomEntries/" in path:
            return self.send_json(404, {"detail": "XCom entry not found"})
        return self.send_json(404, {"detail": "Not Found"})

    def do_POST(self):
        w = self.server.world
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        b = self.body()
        if b is None:
            return self.send_json(422, {"detail": "invalid JSON body"})
        if path == "/auth/token":
            if b.get("username") == w["user"] and b.get("password") == w["password"]:
                return self.send_json(201, {"access_token": w["token"]})
            return self.send_json(401, {"detail": "Invalid credentials"})
        if not path.startswith("/api/v2/"):
            return self.send_json(404, {"detail": "Not Found"})
        if not self.authed():
            return None
        if path == "/api/v2/dags/~/dagRuns/list":
            runs = [w["run"]]
            if b.get("dag_ids"):
                runs = [r for r in runs if r["dag_id"] in b["dag_ids"]]
            if b.get("start_date_gte"):
                since = parse(b["start_date_gte"])
                runs = [r for r in runs if r["start_date"] and parse(r["start_date"]) >= since]
            off, lim = int(b.get("page_offset") or 0), int(b.get("page_limit") or 100)
            return self.send_json(200, {"dag_runs": runs[off:off + lim], "total_entries": len(runs)})
        if path == "/api/v2/dags/~/dagRuns/~/taskInstances/list":
            tis = w["tis"]
            for key, field in (("dag_ids", "dag_id"), ("dag_run_ids", "dag_run_id"), ("task_ids", "task_id")):
                if b.get(key):
                    tis = [t for t in tis if t[field] in b[key]]
            off, lim = int(b.get("page_offset") or 0), int(b.get("page_limit") or 100)
            return self.send_json(200, {"task_instances": tis[off:off + lim], "total_entries": len(tis)})
        return self.send_json(404, {"detail": "Not Found"})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--task-state", choices=["success", "failed"], required=True)
    p.add_argument("--task-start", required=True)
    p.add_argument("--task-end", required=True)
    p.add_argument("--user", default="admin")
    a = p.parse_args()
    dag, run, tis = build_world(a)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.world = {"dag": dag, "run": run, "tis": tis, "user": a.user,
                 "password": os.environ.get("E2E_FAKE_AIRFLOW_PASSWORD", ""),
                 "token": "fake." + secrets.token_urlsafe(24)}
    print(f"[fake-airflow3] pid {os.getpid()} on 127.0.0.1:{srv.server_address[1]}: run {run['dag_run_id']} "
          f"dbt_build {a.task_state} {a.task_start} .. {a.task_end}", flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)   # appears whole, only once the socket listens
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
