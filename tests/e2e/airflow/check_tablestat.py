#!/usr/bin/env python3
"""Checks tablestat's output for the DAGs of real_airflow.sh.

usage: check_tablestat.py OBSERVED.json DB POLL1.json RC1 POLL2.json RC2 STATUS.json RC3
  OBSERVED.json  what airflow/driver.py saw through the API (run ids per DAG)
  DB             the SQLite file named by [store] path (must exist, mode 0600)
  POLL1/RC1      stdout and exit code of the first `poll --once --json` (fresh database)
  POLL2/RC2      the second `poll --once --json` on the same database
  STATUS/RC3     `status --json` afterwards (read from the database, no polling)
Prints one line per failed expectation (and the documents) and exits 1 if there is any.
"""
import datetime as dt
import json
import os
import stat
import sys

STATES = {"up", "degraded", "down", "maintenance", "unknown"}
METRICS = ["availability", "freshness", "correctness", "uniqueness", "completeness"]
DAG_OF = {"healthy": "healthy_daily", "failing": "failing_daily", "paused": "paused_daily",
          "broken": "broken_daily", "upstream": "upstream_fail_daily", "missing": "no_such_dag"}
NOT_CHECKED = "not checked in the latest run"


def ts(v):
    try:
        return dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None


class Checker:
    def __init__(self):
        self.bad = []

    def expect(self, cond, msg):
        if not cond:
            self.bad.append(msg)
        return cond


def check_doc(c, label, doc, rc, run_ids, first):
    """The expectations every document (poll or status) must meet. first: fresh database."""
    e = c.expect
    e(rc == 2, f"{label}: exit code {rc}, expected 2 (something down)")
    if not e(isinstance(doc, dict), f"{label}: top level is not an object"):
        return {}
    for k in ("generated_at", "overall", "summary", "products"):
        e(k in doc, f"{label}: top-level key {k!r} missing")
    e(ts(doc.get("generated_at")) is not None, f"{label}: generated_at {doc.get('generated_at')!r} is not a timestamp")
    e(doc.get("overall") == "down", f"{label}: overall {doc.get('overall')!r}, expected 'down'")
    prods = {p.get("id"): p for p in doc.get("products") or [] if isinstance(p, dict)}
    e(sorted(prods) == sorted(DAG_OF), f"{label}: product ids {sorted(prods)}, expected {sorted(DAG_OF)}")
    want_summary = {"up": 1, "degraded": 0, "down": 5, "maintenance": 0, "unknown": 0}
    e(doc.get("summary") == want_summary, f"{label}: summary {doc.get('summary')}, expected {want_summary}")

    def metrics(pid):
        p = prods.get(pid) or {}
        ms = p.get("metrics") or {}
        e(sorted(ms) == sorted(METRICS), f"{label}: {pid}: metrics {sorted(ms)}, expected {sorted(METRICS)}")
        for name, m in ms.items():
            if not e(isinstance(m, dict), f"{label}: {pid}.{name} is not an object"):
                continue
            for k in ("state", "reason", "since"):
                e(k in m, f"{label}: {pid}.{name}: key {k!r} missing ({m})")
            e(m.get("state") in STATES, f"{label}: {pid}.{name}: state {m.get('state')!r} is not a state")
            e(ts(m.get("since")) is not None, f"{label}: {pid}.{name}: since {m.get('since')!r} is not a timestamp")
        return {n: ms.get(n) if isinstance(ms.get(n), dict) else {} for n in METRICS}

    def want(pid, name, state, reason=None, starts=None, contains=None):
        m = metrics(pid)[name]
        r = str(m.get("reason") or "")
        e(m.get("state") == state, f"{label}: {pid}.{name}: state {m.get('state')!r}, expected {state!r} (reason {r!r})")
        if reason is not None:
            e(r == reason, f"{label}: {pid}.{name}: reason {r!r}, expected {reason!r}")
        if starts is not None:
            e(r.startswith(starts), f"{label}: {pid}.{name}: reason {r!r} does not start with {starts!r}")
        if contains is not None:
            e(any(w in r for w in contains), f"{label}: {pid}.{name}: reason {r!r} contains none of {contains}")

    for pid, dag in DAG_OF.items():
        p = prods.get(pid) or {}
        ev = p.get("evidence") or {}
        e(ev.get("dag_id") == dag, f"{label}: {pid}: evidence.dag_id {ev.get('dag_id')!r}, expected {dag!r}")
        e(ts(p.get("checked_at")) is not None, f"{label}: {pid}: checked_at {p.get('checked_at')!r} is not a timestamp")
        want_state = "up" if pid == "healthy" else "down"
        e(p.get("state") == want_state, f"{label}: {pid}: state {p.get('state')!r}, expected {want_state!r}")

    # healthy: dbt_build succeeded -> every metric up, naming the run
    rid = run_ids.get("healthy_daily")
    for name in METRICS[1:]:
        want("healthy", name, "up", contains=[f"dbt_build succeeded in run {rid}"])
    want("healthy", "availability", "up", reason="DAG healthy_daily is active")
    e((prods.get("healthy") or {}).get("evidence", {}).get("dag_run_id") == rid,
      f"{label}: healthy: evidence.dag_run_id {(prods.get('healthy') or {}).get('evidence', {}).get('dag_run_id')!r}, expected {rid!r}")

    # failing: dbt_build failed -> not refreshed; a DAG-only product has no test results
    rid = run_ids.get("failing_daily")
    want("failing", "availability", "up", reason="DAG failing_daily is active")
    want("failing", "freshness", "down", starts=f"not refreshed: dbt_build failed in run {rid}")
    for name in METRICS[2:]:
        if first:
            want("failing", name, "unknown", reason=NOT_CHECKED)
        else:
            want("failing", name, "unknown", starts=NOT_CHECKED)

    # upstream: extract failed, dbt_build upstream_failed
    rid = run_ids.get("upstream_fail_daily")
    want("upstream", "availability", "up", reason="DAG upstream_fail_daily is active")
    want("upstream", "freshness", "down", starts=f"not refreshed: a task before dbt_build failed in run {rid}")
    for name in METRICS[2:]:
        if first:
            want("upstream", name, "unknown", reason=NOT_CHECKED)
        else:
            want("upstream", name, "unknown", starts=NOT_CHECKED)

    # paused / broken / missing: the DAG cannot run -> every metric down, availability says why
    want("paused", "availability", "down", reason="DAG paused_daily is paused")
    want("broken", "availability", "down", contains=["import error", "no longer active"])
    want("missing", "availability", "down", reason="DAG no_such_dag does not exist in Airflow")
    for pid, words in (("paused", ["paused"]), ("broken", ["import error", "no longer active"]),
                       ("missing", ["does not exist"])):
        for name in METRICS[1:]:
            want(pid, name, "down", contains=words)
    return prods


def states(prods):
    return {(pid, n): ((p.get("metrics") or {}).get(n) or {}).get("state")
            for pid, p in prods.items() for n in METRICS} | {(pid, None): p.get("state") for pid, p in prods.items()}


def main():
    if len(sys.argv) != 9:
        print(__doc__)
        return 64
    observed_f, db = sys.argv[1], sys.argv[2]
    docs = [(sys.argv[3], int(sys.argv[4])), (sys.argv[5], int(sys.argv[6])), (sys.argv[7], int(sys.argv[8]))]
    observed = json.load(open(observed_f))
    run_ids = {d: e["runs"][0]["dag_run_id"] for d, e in observed["dags"].items() if e.get("runs")}
    c = Checker()
    parsed = []
    p1 = p2 = p3 = {}
    for (f, rc), label in zip(docs, ("poll #1", "poll #2", "status")):
        text = open(f, encoding="utf-8", errors="replace").read()
        try:
            doc = json.loads(text)
        except ValueError as ex:
            c.bad.append(f"{label}: stdout is not one JSON document ({ex}); first 300 chars: {text[:300]!r}")
            doc = None
        parsed.append(doc)
        prods = check_doc(c, label, doc, rc, run_ids, first=(label == "poll #1")) if doc is not None else {}
        if label == "poll #1":
            p1 = prods
        elif label == "poll #2":
            p2 = prods
        else:
            p3 = prods

    if p1 and p2:
        c.expect(states(p1) == states(p2), "poll #2: states differ from poll #1")
        for pid in p1.keys() & p2.keys():
            a, b = p1[pid], p2[pid]
            c.expect((ts(b.get("checked_at")) or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
                     >= (ts(a.get("checked_at")) or dt.datetime.max.replace(tzinfo=dt.timezone.utc)),
                     f"poll #2: {pid}: checked_at {b.get('checked_at')} before poll #1's {a.get('checked_at')}")
            for n in METRICS:
                sa = ((a.get("metrics") or {}).get(n) or {}).get("since")
                sb = ((b.get("metrics") or {}).get(n) or {}).get("since")
                c.expect(sa == sb, f"poll #2: {pid}.{n}: since {sb!r}, expected {sa!r} (state unchanged since poll #1)")
            ia, ib = a.get("incident"), b.get("incident")
            c.expect((ia or {}).get("id") == (ib or {}).get("id"),
                     f"poll #2: {pid}: incident {ib}, expected the same incident as poll #1 ({ia})")
    if p2 and p3:
        c.expect(states(p2) == states(p3), "status: states differ from poll #2")
        for pid in p2.keys() & p3.keys():
            for n in METRICS:
                ra = ((p2[pid].get("metrics") or {}).get(n) or {}).get("reason")
                rb = ((p3[pid].get("metrics") or {}).get(n) or {}).get("reason")
                c.expect(ra == rb, f"status: {pid}.{n}: reason {rb!r}, poll #2 said {ra!r}")

    if c.expect(os.path.isfile(db), f"database {db} does not exist after polling"):
        for f in (db, db + "-wal", db + "-shm", db + "-journal"):
            if os.path.exists(f):
                mode = stat.S_IMODE(os.stat(f).st_mode)
                c.expect(mode == 0o600, f"{os.path.basename(f)}: mode {mode:04o}, expected 0600")

    for b in c.bad:
        print(f"  mismatch: {b}")
    if c.bad:
        for (f, _), label, doc in zip(docs, ("poll #1", "poll #2", "status"), parsed):
            if doc is not None:
                print(f"  tablestat printed ({label}):")
                print("    " + json.dumps(doc, indent=2).replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
