#!/usr/bin/env python3
"""Checks `tablestat poll --once --json` on a real dbt target/ (read through a fake Airflow 3).

usage: check_tablestat.py SCENARIO POLL.json EXIT_CODE TARGET_DIR
  green          green target/, dbt_build success, started just before the build
  failing        failing target/, dbt_build failed, started just before the build
  stale-failed   failing target/, dbt_build failed, started 1 h after the build
  stale-success  failing target/, dbt_build success, started 1 h after the build
Prints one line per failed expectation (then the document) and exits 1 if there is any.
"""
import json
import os
import sys

STATES = {"up", "degraded", "down", "maintenance", "unknown"}
METRICS = ["availability", "freshness", "correctness", "uniqueness", "completeness"]
MODELS = ["stg_orders", "stg_customers", "stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"]
MARTS = ["fct_orders", "dim_customers", "fct_daily_revenue"]
STALE = "before the dbt task started"


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 64
    scenario, out_file, rc, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    invocation = json.load(open(os.path.join(target, "run_results.json")))["metadata"]["invocation_id"]
    text = open(out_file, encoding="utf-8", errors="replace").read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        print(f"  {scenario}: stdout is not one JSON document ({e}); first 300 chars: {text[:300]!r}")
        return 1
    bad = []

    def expect(cond, msg):
        if not cond:
            bad.append(msg)
        return cond

    prods = {p.get("id"): p for p in doc.get("products") or [] if isinstance(p, dict)}
    expect(sorted(prods) == sorted(MODELS), f"product ids {sorted(prods)}, expected {sorted(MODELS)}")

    def m(pid, name):
        return ((prods.get(pid) or {}).get("metrics") or {}).get(name) or {}

    def want(pid, name, state, reason=None, starts=None, contains=None):
        got = m(pid, name)
        r = str(got.get("reason") or "")
        expect(got.get("state") == state, f"{pid}.{name}: state {got.get('state')!r}, expected {state!r} (reason {r!r})")
        if reason is not None:
            expect(r == reason, f"{pid}.{name}: reason {r!r}, expected {reason!r}")
        if starts is not None:
            expect(r.startswith(starts), f"{pid}.{name}: reason {r!r} does not start with {starts!r}")
        if contains is not None:
            expect(contains in r, f"{pid}.{name}: reason {r!r} does not contain {contains!r}")

    def product(pid, state):
        p = prods.get(pid) or {}
        expect(p.get("state") == state, f"{pid}: state {p.get('state')!r}, expected {state!r}")

    for pid in MODELS:
        p = prods.get(pid) or {}
        expect(sorted((p.get("metrics") or {})) == sorted(METRICS),
               f"{pid}: metrics {sorted(p.get('metrics') or {})}, expected {sorted(METRICS)}")
        for name in METRICS:
            expect(m(pid, name).get("state") in STATES, f"{pid}.{name}: state {m(pid, name).get('state')!r} is not a state")
        ev = p.get("evidence") or {}
        expect(ev.get("dag_id") == "shop_daily", f"{pid}: evidence.dag_id {ev.get('dag_id')!r}, expected 'shop_daily'")
        expect(str(ev.get("dag_run_id") or "").startswith("manual__"),
               f"{pid}: evidence.dag_run_id {ev.get('dag_run_id')!r}, expected the fake's manual__ run")
        want_dbt = invocation if scenario in ("green", "failing") else None
        expect(ev.get("dbt_run_id") == want_dbt,
               f"{pid}: evidence.dbt_run_id {ev.get('dbt_run_id')!r}, expected {want_dbt!r} (run_results invocation_id)")

    def exit_and_overall(code, overall, summary):
        expect(rc == code, f"exit code {rc}, expected {code}")
        expect(doc.get("overall") == overall, f"overall {doc.get('overall')!r}, expected {overall!r}")
        full = {s: 0 for s in STATES} | summary
        expect(doc.get("summary") == full, f"summary {doc.get('summary')}, expected {full}")

    if scenario == "green":
        exit_and_overall(0, "up", {"up": 6})
        for pid in MODELS:
            product(pid, "up")
            for name in METRICS:
                want(pid, name, "up")
            expect(not (prods.get(pid) or {}).get("evidence", {}).get("failing_tests"),
                   f"{pid}: failing_tests {prods.get(pid, {}).get('evidence', {}).get('failing_tests')}, expected none")
    elif scenario == "failing":
        exit_and_overall(2, "down", {"up": 1, "down": 5})
        product("stg_orders", "down")
        want("stg_orders", "uniqueness", "down", reason="unique test on order_id failed: 2 duplicated values")
        want("stg_orders", "correctness", "down", starts="relationships test on customer_id failed")
        for name in ("availability", "freshness", "completeness"):
            want("stg_orders", name, "up")
        failing = {t.get("unique_id", "").rsplit(".", 1)[0]: t
                   for t in (prods.get("stg_orders") or {}).get("evidence", {}).get("failing_tests") or []}
        u = failing.get("test.shop.unique_stg_orders_order_id") or {}
        expect(u.get("status") == "fail" and u.get("failures") == 2 and u.get("metric") == "uniqueness",
               f"stg_orders: failing_tests entry for unique_stg_orders_order_id is {u or 'missing'}")
        product("stg_customers", "down")
        want("stg_customers", "completeness", "down", reason="not_null test on email failed: 4 rows with no value")
        for name in ("availability", "freshness", "correctness", "uniqueness"):
            want("stg_customers", name, "up")
        product("stg_payments", "up")
        for name in METRICS:
            want("stg_payments", name, "up")
        for pid in MARTS:
            product(pid, "down")
            want(pid, "freshness", "down", starts="not rebuilt: upstream test")
            if pid == "fct_orders":
                # its has_rows test (metric availability) was skipped: "up" (the DAG is active, the
                # old table is still there) and "unknown" (not checked) are both defensible
                expect(m(pid, "availability").get("state") in ("up", "unknown"),
                       f"{pid}.availability: state {m(pid, 'availability').get('state')!r}, expected up or unknown")
            else:
                want(pid, "availability", "up")
            for name in ("correctness", "uniqueness", "completeness"):   # tests skipped, fresh database
                want(pid, name, "unknown", reason="not checked in the latest run")
        # one incident per root cause: the duplicated order id under stg_orders and the marts
        # built from it; the null email under stg_customers. dim_customers reads both staging
        # tables: it joins whichever failure dbt reached first.
        incident = {pid: (prods.get(pid) or {}).get("incident") or {} for pid in MODELS}
        orders = {incident[p].get("id") for p in ("stg_orders", "fct_orders", "fct_daily_revenue")}
        customers = incident["stg_customers"].get("id")
        expect(len(orders) == 1 and None not in orders, f"stg_orders and the marts below it: incidents {orders}, expected one")
        expect(customers is not None and customers not in orders, "two causes, two incidents")
        expect(incident["dim_customers"].get("id") in orders | {customers}, "dim_customers joins one of the two")
        ids = {i.get("id") for i in incident.values() if i}
        expect(len(ids) == 2, f"{len(ids)} incidents for two causes: {ids}")
        # who is affected: the dashboard on fct_daily_revenue, read through stg_orders too
        # (tests/e2e/dbt_project/models/marts/_exposures.yml); its `high` maturity makes the
        # incident critical
        for pid in ("fct_daily_revenue", "stg_orders"):
            names = [x.get("name") for x in (prods.get(pid) or {}).get("evidence", {}).get("exposures") or []]
            expect(names == ["Weekly revenue"], f"{pid}: exposures {names}, expected the Weekly revenue dashboard")
        expect(not (prods.get("stg_customers") or {}).get("evidence", {}).get("exposures"),
               "stg_customers: the dashboard does not read it")
        title = incident["stg_orders"].get("title", "")
        expect(title.startswith("`unique_stg_orders_order_id` failed: ") and title.endswith("tables affected"),
               f"stg_orders: incident title {title!r}")
    elif scenario == "stale-failed":
        # refused artifacts: nothing may be judged from them, in particular not the failures they hold
        exit_and_overall(3, "unknown", {"unknown": 6})
        for pid in MODELS:
            product(pid, "unknown")
            want(pid, "availability", "up")
            for name in METRICS[1:]:
                want(pid, name, "unknown", contains=STALE)
            expect(not (prods.get(pid) or {}).get("evidence", {}).get("failing_tests"),
                   f"{pid}: failing_tests taken from refused artifacts: {prods.get(pid, {}).get('evidence', {}).get('failing_tests')}")
    elif scenario == "stale-success":
        # the task succeeded: up, with a note that the dbt details could not be had
        exit_and_overall(0, "up", {"up": 6})
        for pid in MODELS:
            product(pid, "up")
            for name in METRICS:
                want(pid, name, "up")
            note = str((prods.get(pid) or {}).get("note") or "")
            expect(STALE in note, f"{pid}: note {note!r} does not contain {STALE!r}")
    else:
        print(f"unknown scenario {scenario!r}")
        return 64

    for b in bad:
        print(f"  mismatch ({scenario}): {b}")
    if bad:
        print(f"  tablestat printed ({scenario}, exit {rc}):")
        print("    " + json.dumps(doc, indent=2).replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
