#!/usr/bin/env python3
"""A tiny fake dbt Cloud API v2 (standard library only) for real_airflow.sh's both-at-once run.

One account with one job (42) and one finished run (default 4242, status 20 "Error"): steps
`Clone git repository`, `Invoke dbt with \\`dbt deps\\``, `Invoke dbt with \\`dbt build\\``;
the build step's artifacts are the files of --artifacts (real dbt output: manifest.json and
run_results.json). Shapes follow shared/reference/dbt_cloud/README.md (the envelope, the run,
`include_related`, `?step=`); every call needs `Authorization: Token <t>` or `Bearer <t>` with
t = $E2E_DBT_CLOUD_TOKEN (else 401 `Invalid token.` as dbt Cloud answers).

usage: fake_dbt_cloud.py --port-file F --artifacts DIR --created ISO --finished ISO
                         [--account 1] [--job 42] [--run 4242]
Binds 127.0.0.1 on a free port, writes it to F once it listens, logs one line per request to
stdout, and serves until killed.
"""
import argparse
import json
import os
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUILD_STEP = 3


def envelope(data, code=200):
    ok = 200 <= code < 300
    return {"status": {"code": code, "is_success": ok, "user_message": "Success!" if ok else "Invalid token.",
                       "developer_message": ""}, "data": data}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print(f"[fake-dbt-cloud] {self.command} {self.path} -> {fmt % args}", flush=True)

    def send(self, code, body, kind="application/json"):
        self.send_response(code)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code, obj):
        self.send(code, json.dumps(obj).encode())

    def do_GET(self):
        w = self.server.world
        auth = self.headers.get("authorization") or ""
        if auth not in (f"Token {w['token']}", f"Bearer {w['token']}"):
            return self.send_json(401, envelope(None, 401))
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        base = f"/api/v2/accounts/{w['account']}/runs/"
        run = w["run"]
        if u.path == base:
            runs = [run] if q.get("job_definition_id", [str(w["job"])])[0] == str(w["job"]) else []
            listed = dict(run, run_steps=[])   # the list does not include steps
            return self.send_json(200, envelope([listed] if runs else []))
        if u.path == f"{base}{run['id']}/":
            return self.send_json(200, envelope(run))
        prefix = f"{base}{run['id']}/artifacts/"
        if u.path.startswith(prefix):
            name = u.path[len(prefix):]
            step = int(q.get("step", [str(BUILD_STEP)])[0])
            path = os.path.join(w["artifacts"], name)
            if step == BUILD_STEP and name in ("manifest.json", "run_results.json") and os.path.isfile(path):
                with open(path, "rb") as fh:
                    return self.send(200, fh.read())
            return self.send_json(404, envelope(None, 404))
        return self.send_json(404, envelope(None, 404))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--artifacts", required=True)
    p.add_argument("--created", required=True)
    p.add_argument("--finished", required=True)
    p.add_argument("--account", type=int, default=1)
    p.add_argument("--job", type=int, default=42)
    p.add_argument("--run", type=int, default=4242)
    a = p.parse_args()
    steps = ["Clone git repository", "Invoke dbt with `dbt deps`", "Invoke dbt with `dbt build`"]
    run = {
        "id": a.run, "account_id": a.account, "job_definition_id": a.job, "status": 20,
        "status_humanized": "Error", "in_progress": False, "is_complete": True, "is_success": False,
        "is_error": True, "created_at": a.created.replace("T", " "), "finished_at": a.finished,
        "href": f"https://cloud.example.invalid/deploy/{a.account}/projects/1/runs/{a.run}/",
        "run_steps": [{"index": i + 1, "name": n, "status": 20 if i + 1 == BUILD_STEP else 10}
                      for i, n in enumerate(steps)],
    }
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.world = {"run": run, "account": a.account, "job": a.job, "artifacts": a.artifacts,
                 "token": os.environ.get("E2E_DBT_CLOUD_TOKEN", "")}
    print(f"[fake-dbt-cloud] pid {os.getpid()} on 127.0.0.1:{srv.server_address[1]}: run {a.run} of job {a.job}, "
          f"artifacts from {a.artifacts}", flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
