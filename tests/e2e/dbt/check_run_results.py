#!/usr/bin/env python3
"""Checks a real dbt build's target/run_results.json against an expected status list.

usage: check_run_results.py TARGET_DIR EXPECTED.json NOT_BEFORE_EPOCH
Expected: {"results": {"<unique_id without a test's hash suffix>": {"status", "failures"}}}.
Also checks that the file is from this build (generated_at not before NOT_BEFORE_EPOCH) and was
written by `dbt build`. Prints one line per mismatch; exit 1 if any.
"""
import datetime as dt
import json
import os
import re
import sys


def key(uid):
    parts = uid.split(".")
    if parts[0] == "test" and len(parts) == 4 and re.fullmatch(r"[0-9a-f]{10}", parts[3]):
        parts = parts[:3]
    return ".".join(parts)


def main():
    target, expected_file, not_before = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bad = []
    path = os.path.join(target, "run_results.json")
    if not os.path.isfile(path):
        print(f"  missing: {path}")
        return 1
    for f in ("manifest.json",):
        if not os.path.isfile(os.path.join(target, f)):
            bad.append(f"missing: {os.path.join(target, f)}")
    rr = json.load(open(path))
    meta = rr.get("metadata", {})
    gen = dt.datetime.fromisoformat(meta.get("generated_at", "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
    if gen.timestamp() < not_before - 1:
        bad.append(f"run_results.json is stale: generated_at {meta.get('generated_at')}")
    if rr.get("args", {}).get("which") != "build":
        bad.append(f"args.which = {rr.get('args', {}).get('which')!r}, expected 'build'")
    got = {key(r["unique_id"]): {"status": r["status"], "failures": r["failures"]}
           for r in rr.get("results", [])}
    want = json.load(open(expected_file))["results"]
    for k in sorted(set(want) | set(got)):
        if k not in got:
            bad.append(f"{k}: expected {want[k]}, not in run_results")
        elif k not in want:
            bad.append(f"{k}: unexpected result {got[k]}")
        elif got[k] != want[k]:
            bad.append(f"{k}: got {got[k]}, expected {want[k]}")
    for b in bad:
        print(f"  mismatch: {b}")
    if not bad:
        counts = {}
        for v in got.values():
            counts[v["status"]] = counts.get(v["status"], 0) + 1
        print(f"dbt {meta.get('dbt_version')}: {len(got)} results as expected {counts}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
