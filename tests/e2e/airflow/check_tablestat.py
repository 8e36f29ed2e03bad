#!/usr/bin/env python3
"""Checks `tablestat poll --once --json` against the DAGs of real_airflow.sh.

usage: check_tablestat.py STDOUT_FILE EXIT_CODE
Prints one line per failed expectation and exits 1 if there is any; 0 otherwise.
"""
import json
import sys

STATES = {"up", "degraded", "down", "maintenance", "unknown"}
PRODUCTS = ["healthy", "failing", "paused", "broken", "upstream", "missing"]


def main():
    out_file, rc = sys.argv[1], int(sys.argv[2])
    text = open(out_file, encoding="utf-8", errors="replace").read()
    bad = []

    def expect(cond, msg):
        if not cond:
            bad.append(msg)
        return cond

    expect(rc == 2, f"exit code {rc}, expected 2 (something down)")
    try:
        doc = json.loads(text)
    except ValueError as e:
        print(f"stdout is not one JSON document ({e}); first 500 chars:\n{text[:500]}")
        return 1
    expect(isinstance(doc, dict), "top level is not an object")
    if not isinstance(doc, dict):
        return report(bad, doc)
    for k in ("generated_at", "overall", "summary", "products"):
        expect(k in doc, f"top-level key {k!r} missing")
    expect(doc.get("overall") == "down", f"overall {doc.get('overall')!r}, expected 'down'")
    prods = {p.get("id"): p for p in doc.get("products") or [] if isinstance(p, dict)}
    expect(sorted(prods) == sorted(PRODUCTS), f"product ids {sorted(prods)}, expected {sorted(PRODUCTS)}")
    summary = doc.get("summary") or {}
    expect(set(summary) >= STATES, f"summary keys {sorted(summary)}, expected {sorted(STATES)}")
    expect(summary.get("up") == 1 and summary.get("down") == 5,
           f"summary {summary}, expected up 1, down 5")

    def metric(pid, name):
        m = ((prods.get(pid) or {}).get("metrics") or {}).get(name)
        if not expect(isinstance(m, dict), f"{pid}: metric {name!r} missing"):
            return {}
        for k in ("state", "reason", "since"):
            expect(k in m, f"{pid}.{name}: key {k!r} missing ({m})")
        expect(m.get("state") in STATES, f"{pid}.{name}: state {m.get('state')!r} is not a state")
        return m

    def state(pid):
        return (prods.get(pid) or {}).get("state")

    def reason_has(pid, name, words):
        m = metric(pid, name)
        r = str(m.get("reason") or "").lower()
        expect(any(w in r for w in words),
               f"{pid}.{name}: reason {m.get('reason')!r} contains none of {words}")

    expect(state("healthy") == "up", f"healthy: state {state('healthy')!r}, expected 'up'")
    # failing: dbt_build failed -> the table was not refreshed; the DAG itself is fine
    f = metric("failing", "freshness")
    expect(f.get("state") == "down", f"failing.freshness: {f.get('state')!r}, expected 'down'")
    reason_has("failing", "freshness", ["not refreshed"])
    a = metric("failing", "availability")
    expect(a.get("state") == "up", f"failing.availability: {a.get('state')!r}, expected 'up'")
    expect(state("failing") == "down", f"failing: state {state('failing')!r}, expected 'down'")
    # paused
    expect(state("paused") == "down", f"paused: state {state('paused')!r}, expected 'down'")
    reason_has("paused", "availability", ["paused"])
    # broken: import error (2.x: is_active may already be false; 3.x: is_stale)
    expect(state("broken") == "down", f"broken: state {state('broken')!r}, expected 'down'")
    reason_has("broken", "availability", ["import error", "no longer active", "does not exist"])
    # upstream: extract failed, dbt_build upstream_failed
    u = metric("upstream", "freshness")
    expect(u.get("state") == "down", f"upstream.freshness: {u.get('state')!r}, expected 'down'")
    reason_has("upstream", "freshness", ["a task before dbt_build failed"])
    expect(state("upstream") == "down", f"upstream: state {state('upstream')!r}, expected 'down'")
    # missing: dag = no_such_dag
    expect(state("missing") == "down", f"missing: state {state('missing')!r}, expected 'down'")
    reason_has("missing", "availability", ["does not exist"])
    return report(bad, doc)


def report(bad, doc):
    for b in bad:
        print(f"  mismatch: {b}")
    if bad:
        print("  tablestat printed:")
        print("    " + json.dumps(doc, indent=2).replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
