//! The generator behind `examples/scale_artifacts` (shared with `benches/ingest.rs`, which
//! includes this file by path): a synthetic dbt project's artifacts, deterministic by seed.
//!
//! Every node is a clone of a node of the real dbt 1.11 manifest in
//! `tests/fixtures/dbt/all_pass`, renamed and rewired, so the documents keep dbt's own shape
//! down to the last key: the Python `dbt-artifacts-parser` (whose models forbid unknown keys)
//! reads them, as tablestat's readers do. The macros and docs are the fixture's own. Another
//! real build of the same project (the e2e's, by dbt 1.10) can stand in for the fixture
//! ([`Scale::template`]), so the figures hold for what other dbt versions write.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Value, json};

const TEMPLATE_MANIFEST: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dbt/all_pass/manifest.json"));
const TEMPLATE_RESULTS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dbt/all_pass/run_results.json"));
const TEMPLATE_SOURCES: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dbt/all_pass/sources.json"));

const DOMAINS: [&str; 12] = [
    "sales",
    "finance",
    "marketing",
    "product",
    "support",
    "supply",
    "people",
    "billing",
    "growth",
    "risk",
    "logistics",
    "partners",
];
const NOUNS: [&str; 16] = [
    "orders",
    "customers",
    "payments",
    "invoices",
    "sessions",
    "tickets",
    "shipments",
    "refunds",
    "accounts",
    "events",
    "subscriptions",
    "products",
    "leads",
    "contracts",
    "employees",
    "campaigns",
];
const COLUMNS: [&str; 24] = [
    "id",
    "customer_id",
    "order_id",
    "account_id",
    "status",
    "amount",
    "currency",
    "created_at",
    "updated_at",
    "country_code",
    "channel",
    "quantity",
    "unit_price",
    "discount",
    "region",
    "segment",
    "is_active",
    "email",
    "plan",
    "source_system",
    "loaded_at",
    "category",
    "priority",
    "owner_id",
];
const WORDS: [&str; 32] = [
    "one",
    "row",
    "per",
    "order",
    "with",
    "the",
    "amount",
    "paid",
    "after",
    "refunds",
    "and",
    "discounts",
    "as",
    "booked",
    "by",
    "finance",
    "at",
    "close",
    "of",
    "day",
    "in",
    "customer's",
    "currency",
    "converted",
    "to",
    "euros",
    "using",
    "daily",
    "rate",
    "from",
    "treasury",
    "feed",
];

/// One generated table, as much as later nodes and results need.
struct Table {
    unique_id: String,
    name: String,
    columns: Vec<&'static str>,
    status: &'static str,
}

struct Templates {
    model: Value,
    seed: Value,
    source: Value,
    unit_test: Value,
    generic: BTreeMap<&'static str, Value>,
    singular: Value,
    model_result: Value,
    test_result: Value,
    freshness_result: Value,
}

fn node(manifest: &Value, unique_id: &str) -> Value {
    ["nodes", "sources", "unit_tests"]
        .iter()
        .find_map(|section| manifest[section].get(unique_id))
        .unwrap_or_else(|| panic!("the template manifest has no {unique_id}"))
        .clone()
}

fn result(results: &Value, unique_id: &str) -> Value {
    results["results"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["unique_id"] == unique_id))
        .unwrap_or_else(|| panic!("the template run_results has no {unique_id}"))
        .clone()
}

impl Templates {
    fn new(manifest: &Value, results: &Value, sources: &Value) -> Templates {
        let generic = BTreeMap::from([
            ("unique", node(manifest, "test.shop.unique_fct_orders_order_id.523ddb6ce5")),
            ("not_null", node(manifest, "test.shop.not_null_fct_orders_order_id.4e687af8d0")),
            (
                "accepted_values",
                node(
                    manifest,
                    "test.shop.accepted_values_stg_orders_status__placed__shipped__completed__returned__cancelled.cb8754312d",
                ),
            ),
            (
                "relationships",
                node(
                    manifest,
                    "test.shop.relationships_stg_orders_customer_id__customer_id__ref_stg_customers_.430bf21500",
                ),
            ),
            ("expression_is_true", node(manifest, "test.shop.fct_orders_amount_not_negative.b58bc590fe")),
        ]);
        Templates {
            model: node(manifest, "model.shop.fct_orders"),
            seed: node(manifest, "seed.shop.country_codes"),
            source: node(manifest, "source.shop.raw.orders"),
            unit_test: node(manifest, "unit_test.shop.fct_orders.fct_orders_sums_split_payments"),
            generic,
            singular: node(manifest, "test.shop.assert_no_revenue_in_the_future"),
            model_result: result(results, "model.shop.fct_orders"),
            test_result: result(results, "test.shop.unique_fct_orders_order_id.523ddb6ce5"),
            freshness_result: sources["results"][0].clone(),
        }
    }
}

/// A JSON object writer that streams `"key": value` pairs, so a 500 MB document is never
/// held in memory.
struct ObjectWriter<'a, W: Write> {
    out: &'a mut W,
    first: bool,
}

impl<'a, W: Write> ObjectWriter<'a, W> {
    fn open(out: &'a mut W, key: &str) -> std::io::Result<Self> {
        write!(out, ", {}: {{", json!(key))?;
        Ok(ObjectWriter { out, first: true })
    }

    fn entry(&mut self, key: &str, value: &Value) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b", ")?;
        }
        self.first = false;
        write!(self.out, "{}: ", json!(key))?;
        serde_json::to_writer(&mut *self.out, value)?;
        Ok(())
    }

    fn close(self) -> std::io::Result<()> {
        self.out.write_all(b"}")
    }
}

struct Generator {
    rng: fastrand::Rng,
    t: Templates,
    tables: Vec<Table>,
    sources: Vec<Table>,
    parents: BTreeMap<String, Vec<String>>,
    results: Vec<Value>,
    /// Microseconds since the start of the run, for plausible timings.
    clock: i64,
}

fn quoted(schema: &str, name: &str) -> String {
    format!("\"analytics\".\"{schema}\".\"{name}\"")
}

impl Generator {
    fn sentence(&mut self, words: usize) -> String {
        let mut text: Vec<&str> = (0..words).map(|_| WORDS[self.rng.usize(..WORDS.len())]).collect();
        let first = text[0].to_string();
        let mut capital = first[..1].to_uppercase();
        capital.push_str(&first[1..]);
        text[0] = &capital;
        format!("{}.", text.join(" "))
    }

    fn hash10(&mut self) -> String {
        format!("{:010x}", self.rng.u64(..1 << 40))
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.u128(..);
        let h = format!("{a:032x}");
        format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..])
    }

    fn stamp(&self, micros: i64) -> String {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-24T01:00:00Z").unwrap();
        (start + chrono::Duration::microseconds(micros)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    fn columns_json(&mut self, columns: &[&str]) -> Value {
        let template = &self.t.model["columns"]["order_id"].clone();
        let mut out = serde_json::Map::new();
        for column in columns {
            let mut c = template.clone();
            c["name"] = json!(column);
            let words = 4 + self.rng.usize(..10);
            c["description"] = json!(self.sentence(words));
            out.insert(column.to_string(), c);
        }
        Value::Object(out)
    }

    fn source(&mut self, i: usize) -> Value {
        let domain = DOMAINS[i % DOMAINS.len()];
        let name = format!("{}_{i:05}", NOUNS[i % NOUNS.len()]);
        let source_name = format!("raw_{domain}");
        let unique_id = format!("source.shop.{source_name}.{name}");
        let columns: Vec<&str> = (0..6 + self.rng.usize(..8)).map(|k| COLUMNS[(i + k) % COLUMNS.len()]).collect();
        let mut s = self.t.source.clone();
        s["name"] = json!(name);
        s["identifier"] = json!(name);
        s["source_name"] = json!(source_name);
        s["schema"] = json!(source_name);
        s["database"] = json!("analytics");
        s["unique_id"] = json!(unique_id);
        s["fqn"] = json!(["shop", "staging", domain, source_name, name]);
        s["path"] = json!(format!("models/staging/{domain}/_sources.yml"));
        s["original_file_path"] = s["path"].clone();
        s["relation_name"] = json!(quoted(&source_name, &name));
        let words = 6 + self.rng.usize(..12);
        s["description"] = json!(self.sentence(words));
        s["columns"] = self.columns_json(&columns);
        if self.rng.u8(..10) < 3 {
            // No freshness configured: dbt writes null in both places.
            s["freshness"] = Value::Null;
            s["config"]["freshness"] = Value::Null;
            s["unrendered_config"]["freshness"] = Value::Null;
        }
        s["created_at"] = json!(1_795_483_281.0 + i as f64 / 1000.0);
        self.sources.push(Table { unique_id, name, columns, status: "success" });
        s
    }

    /// Staging models read a source; the others join one to three earlier models.
    fn model(&mut self, i: usize) -> Value {
        let domain = DOMAINS[i % DOMAINS.len()];
        let noun = NOUNS[(i / DOMAINS.len()) % NOUNS.len()];
        let (layer, prefix) = match i % 10 {
            0..=3 => ("staging", "stg"),
            4..=6 => ("intermediate", "int"),
            7 | 8 => ("marts", "fct"),
            _ => ("marts", "dim"),
        };
        let name = format!("{prefix}_{domain}_{noun}_{i:05}");
        let unique_id = format!("model.shop.{name}");
        let columns: Vec<&str> = {
            let n = 6 + self.rng.usize(..14);
            let offset = self.rng.usize(..COLUMNS.len());
            (0..n).map(|k| COLUMNS[(offset + k) % COLUMNS.len()]).collect()
        };
        let (upstream, refs, sources): (Vec<usize>, Vec<Value>, Vec<Value>) = if layer == "staging" || i < 10 {
            let s = i % self.sources.len();
            let src = &self.sources[s];
            let source_name = src.unique_id.split('.').nth(2).unwrap().to_string();
            (vec![], vec![], vec![json!([source_name, src.name])])
        } else {
            let n = 1 + self.rng.usize(..3);
            let mut picked: Vec<usize> = (0..n).map(|_| self.rng.usize(i.saturating_sub(400)..i)).collect();
            picked.sort();
            picked.dedup();
            let refs = picked.iter().map(|&p| json!({"name": self.tables[p].name, "package": null, "version": null}));
            (picked.clone(), refs.collect(), vec![])
        };
        let mut parent_ids: Vec<String> = upstream.iter().map(|&p| self.tables[p].unique_id.clone()).collect();
        let mut froms: Vec<(String, String)> = upstream
            .iter()
            .map(|&p| (format!("{{{{ ref('{}') }}}}", self.tables[p].name), quoted("main", &self.tables[p].name)))
            .collect();
        for s in &sources {
            let (sn, tn) = (s[0].as_str().unwrap(), s[1].as_str().unwrap());
            parent_ids.push(format!("source.shop.{sn}.{tn}"));
            froms.push((format!("{{{{ source('{sn}', '{tn}') }}}}"), quoted(sn, tn)));
        }
        let (raw, compiled) = self.sql(&froms, &columns);
        let mut m = self.t.model.clone();
        m["name"] = json!(name);
        m["alias"] = json!(name);
        m["unique_id"] = json!(unique_id);
        m["database"] = json!("analytics");
        m["fqn"] = json!(["shop", layer, domain, name]);
        m["path"] = json!(format!("{layer}/{domain}/{name}.sql"));
        m["original_file_path"] = json!(format!("models/{layer}/{domain}/{name}.sql"));
        m["patch_path"] = json!(format!("shop://models/{layer}/{domain}/_{domain}.yml"));
        m["build_path"] = json!(format!("target/run/shop/models/{layer}/{domain}/{name}.sql"));
        m["compiled_path"] = json!(format!("target/compiled/shop/models/{layer}/{domain}/{name}.sql"));
        m["relation_name"] = json!(quoted("main", &name));
        m["checksum"]["checksum"] = json!(format!("{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..)));
        let words = 8 + self.rng.usize(..30);
        m["description"] = json!(self.sentence(words));
        m["columns"] = self.columns_json(&columns);
        m["raw_code"] = json!(raw);
        m["compiled_code"] = json!(compiled);
        m["refs"] = json!(refs);
        m["sources"] = json!(sources);
        m["depends_on"]["nodes"] = json!(parent_ids);
        let tags = json!([layer, domain]);
        m["tags"] = tags.clone();
        m["config"]["tags"] = tags;
        // Marts are the data products: their meta says so, as a real project's would.
        let meta = if layer == "marts" {
            json!({"owner": format!("{domain}-data@example.com"), "tablestat": {"group": domain}})
        } else {
            json!({})
        };
        m["meta"] = meta.clone();
        m["config"]["meta"] = meta.clone();
        m["unrendered_config"] = json!({"materialized": "table", "meta": meta});
        m["config"]["materialized"] = json!("table");
        m["created_at"] = json!(1_795_483_280.0 + i as f64 / 1000.0);

        let upstream_failed = upstream.iter().any(|&p| self.tables[p].status != "success");
        let status = if upstream_failed {
            "skipped"
        } else if self.rng.u16(..1000) < 8 {
            "error"
        } else {
            "success"
        };
        let mut r = self.t.model_result.clone();
        r["unique_id"] = json!(unique_id);
        r["relation_name"] = m["relation_name"].clone();
        self.finish_result(&mut r, status, Some(&compiled), None);
        if status == "error" {
            r["message"] = json!(format!(
                "Runtime Error in model {name} (models/{layer}/{domain}/{name}.sql)\n  Binder Error: Referenced column \"{}_old\" not found in FROM clause!",
                columns[0]
            ));
        }
        self.results.push(r);
        self.parents.insert(unique_id.clone(), parent_ids);
        self.tables.push(Table { unique_id, name, columns, status });
        m
    }

    /// A model's Jinja SQL and the compiled SQL dbt writes beside it.
    fn sql(&mut self, froms: &[(String, String)], columns: &[&str]) -> (String, String) {
        let mut raw = String::from("{{\n    config(\n        materialized='table'\n    )\n}}\n\n");
        raw.push_str(&format!("-- {}\n", self.sentence(12)));
        let mut ctes = Vec::new();
        for (k, _) in froms.iter().enumerate() {
            ctes.push(format!(
                "upstream_{k} as (\n    select *\n    from __FROM_{k}__\n    where loaded_at >= dateadd('day', -{}, current_date)\n)",
                3 + k
            ));
        }
        raw.push_str(&format!("with {},\n\nfinal as (\n    select\n", ctes.join(",\n\n")));
        let select: Vec<String> = columns
            .iter()
            .map(|c| match *c {
                "amount" | "unit_price" | "discount" => format!("        round(upstream_0.{c} / 100.0, 2) as {c}"),
                "status" | "channel" | "segment" => format!("        lower(trim(upstream_0.{c})) as {c}"),
                _ => format!("        upstream_0.{c}"),
            })
            .collect();
        raw.push_str(&select.join(",\n"));
        raw.push_str("\n    from upstream_0\n");
        for k in 1..froms.len() {
            raw.push_str(&format!("    left join upstream_{k} on upstream_{k}.id = upstream_0.id\n"));
        }
        raw.push_str(")\n\nselect * from final\n");
        let mut compiled = raw.split_once("}}\n\n").map_or(raw.clone(), |(_, rest)| rest.to_string());
        for (k, (jinja, relation)) in froms.iter().enumerate() {
            raw = raw.replace(&format!("__FROM_{k}__"), jinja);
            compiled = compiled.replace(&format!("__FROM_{k}__"), relation);
        }
        (raw, compiled)
    }

    fn seed(&mut self, i: usize) -> Value {
        let name = format!("{}_codes_{i:03}", NOUNS[i % NOUNS.len()]);
        let unique_id = format!("seed.shop.{name}");
        let mut s = self.t.seed.clone();
        s["name"] = json!(name);
        s["alias"] = json!(name);
        s["unique_id"] = json!(unique_id);
        s["fqn"] = json!(["shop", name]);
        s["path"] = json!(format!("{name}.csv"));
        s["original_file_path"] = json!(format!("seeds/{name}.csv"));
        s["build_path"] = json!(format!("target/run/shop/seeds/{name}.csv"));
        s["relation_name"] = json!(quoted("main", &name));
        let mut r = self.t.model_result.clone();
        r["unique_id"] = json!(unique_id);
        r["relation_name"] = s["relation_name"].clone();
        self.finish_result(&mut r, "success", None, None);
        self.results.push(r);
        self.parents.insert(unique_id, vec![]);
        s
    }

    /// Test number `n`: attached to a model round-robin, of a kind drawn at random.
    fn test(&mut self, n: usize) -> (String, Value) {
        let m = n % self.tables.len();
        let round = n / self.tables.len();
        let (model_id, model, model_status) = {
            let t = &self.tables[m];
            (t.unique_id.clone(), t.name.clone(), t.status)
        };
        let column = self.tables[m].columns[round % self.tables[m].columns.len()];
        let suffix = if round >= self.tables[m].columns.len() { format!("_{round}") } else { String::new() };
        let roll = self.rng.u8(..100);
        let kind = match roll {
            0..=19 => "unique",
            20..=64 => "not_null",
            65..=76 => "accepted_values",
            77..=89 => "relationships",
            90..=94 => "expression_is_true",
            _ => "singular",
        };
        let relation = quoted("main", &model);
        let mut parents = vec![model_id.clone()];
        let (mut t, name) = if kind == "singular" {
            let name = format!("assert_{model}_{column}_is_valid{suffix}");
            let mut t = self.t.singular.clone();
            t["path"] = json!(format!("singular/{name}.sql"));
            t["original_file_path"] = json!(format!("tests/singular/{name}.sql"));
            t["raw_code"] = json!(format!(
                "-- {}\nselect {column}\nfrom {{{{ ref('{model}') }}}}\nwhere {column} is not null and {column} < 0",
                self.sentence(10)
            ));
            t["compiled_code"] =
                json!(format!("select {column}\nfrom {relation}\nwhere {column} is not null and {column} < 0"));
            let words = 6 + self.rng.usize(..10);
            t["description"] = json!(self.sentence(words));
            (t, name)
        } else {
            let mut t = self.t.generic[kind].clone();
            let (name, kwargs, compiled) = match kind {
                "accepted_values" => (
                    format!("accepted_values_{model}_{column}__a__b__c{suffix}"),
                    json!({"column_name": column, "values": ["a", "b", "c"]}),
                    format!(
                        "with all_values as (\n    select {column} as value_field, count(*) as n_records\n    from {relation}\n    group by {column}\n)\nselect *\nfrom all_values\nwhere value_field not in ('a','b','c')\n"
                    ),
                ),
                "relationships" => {
                    let target = self.rng.usize(..self.tables.len());
                    let target_name = self.tables[target].name.clone();
                    parents.push(self.tables[target].unique_id.clone());
                    (
                        format!("relationships_{model}_{column}__id__ref_{target_name}_{suffix}"),
                        json!({"column_name": column, "to": format!("ref('{target_name}')"), "field": "id"}),
                        format!(
                            "with child as (\n    select {column} as from_field\n    from {relation}\n    where {column} is not null\n),\n\nparent as (\n    select id as to_field\n    from {}\n)\n\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null\n",
                            quoted("main", &target_name)
                        ),
                    )
                }
                "expression_is_true" => (
                    format!("{model}_{column}_not_negative{suffix}"),
                    json!({"expression": format!("{column} >= 0")}),
                    format!("select *\nfrom {relation}\nwhere not ({column} >= 0)\n"),
                ),
                "unique" => (
                    format!("unique_{model}_{column}{suffix}"),
                    json!({"column_name": column}),
                    format!(
                        "select\n    {column} as unique_field,\n    count(*) as n_records\n\nfrom {relation}\nwhere {column} is not null\ngroup by {column}\nhaving count(*) > 1\n"
                    ),
                ),
                _ => (
                    format!("not_null_{model}_{column}{suffix}"),
                    json!({"column_name": column}),
                    format!("select {column}\nfrom {relation}\nwhere {column} is null\n"),
                ),
            };
            let mut kwargs = kwargs;
            kwargs["model"] = json!(format!("{{{{ get_where_subquery(ref('{model}')) }}}}"));
            t["test_metadata"]["kwargs"] = kwargs;
            if kind != "expression_is_true" {
                t["column_name"] = json!(column);
            }
            t["attached_node"] = json!(model_id);
            t["file_key_name"] = json!(format!("models.{model}"));
            t["path"] = json!(format!("{name}.sql"));
            t["original_file_path"] = json!(format!("models/_{model}.yml"));
            t["compiled_code"] = json!(compiled);
            (t, name)
        };
        let unique_id = if kind == "singular" {
            format!("test.shop.{name}")
        } else {
            format!("test.shop.{name}.{}", self.hash10())
        };
        t["name"] = json!(name);
        t["alias"] = json!(name);
        t["unique_id"] = json!(unique_id);
        t["fqn"] = json!(["shop", model, name]);
        t["build_path"] = json!(format!("target/run/shop/{name}.sql"));
        t["compiled_path"] = json!(format!("target/compiled/shop/{name}.sql"));
        t["refs"] = json!(
            parents
                .iter()
                .map(|p| json!({"name": p.rsplit('.').next(), "package": null, "version": null}))
                .collect::<Vec<_>>()
        );
        t["depends_on"]["nodes"] = json!(parents);
        let warn = self.rng.u8(..10) == 0;
        t["config"]["severity"] = json!(if warn { "warn" } else { "ERROR" });
        if self.rng.u8(..50) == 0 {
            t["config"]["meta"] = json!({"tablestat": {"metric": "correctness", "critical": true}});
            t["meta"] = t["config"]["meta"].clone();
        }
        t["created_at"] = json!(1_795_483_281.0 + n as f64 / 10_000.0);

        let status = if model_status != "success" {
            "skipped"
        } else {
            match self.rng.u16(..1000) {
                0..=29 => {
                    if warn {
                        "warn"
                    } else {
                        "fail"
                    }
                }
                30..=34 => "error",
                _ => "pass",
            }
        };
        let failures = match status {
            "fail" | "warn" => Some(1 + self.rng.i64(0..200)),
            "pass" => Some(0),
            _ => None,
        };
        let mut r = self.t.test_result.clone();
        r["unique_id"] = json!(unique_id);
        self.finish_result(&mut r, status, t["compiled_code"].as_str(), failures);
        if let Some(f) = failures.filter(|f| *f > 0) {
            let which = if status == "warn" { "warn" } else { "fail" };
            r["message"] =
                json!(format!("Got {f} result{}, configured to {which} if != 0", if f == 1 { "" } else { "s" }));
        }
        if status == "error" {
            r["message"] = json!(format!(
                "Runtime Error in test {name} (models/_{model}.yml)\n  Binder Error: Referenced column \"{column}\" not found in FROM clause!"
            ));
        }
        self.results.push(r);
        self.parents.insert(unique_id.clone(), parents);
        (unique_id, t)
    }

    /// Sets a result's status, timings and the fields dbt clears when a node is skipped.
    fn finish_result(&mut self, r: &mut Value, status: &str, compiled: Option<&str>, failures: Option<i64>) {
        r["status"] = json!(status);
        r["failures"] = json!(failures);
        r["thread_id"] = json!(format!("Thread-{} (worker)", 1 + self.rng.u8(..8)));
        if status == "skipped" {
            r["timing"] = json!([]);
            r["execution_time"] = json!(0);
            r["adapter_response"] = json!({});
            r["message"] = Value::Null;
            r["compiled"] = json!(false);
            r["compiled_code"] = Value::Null;
            return;
        }
        let compile = 200 + self.rng.i64(0..20_000);
        let execute = 5_000 + self.rng.i64(0..2_000_000);
        let start = self.clock;
        self.clock += compile / 4 + execute / 8;
        r["timing"] = json!([
            {"name": "compile", "started_at": self.stamp(start), "completed_at": self.stamp(start + compile)},
            {"name": "execute", "started_at": self.stamp(start + compile + 100), "completed_at": self.stamp(start + compile + 100 + execute)}
        ]);
        r["execution_time"] = json!((compile + execute) as f64 / 1e6);
        r["compiled_code"] = json!(compiled);
        if status == "error" {
            r["adapter_response"] = json!({});
        }
    }

    fn unit_test(&mut self, i: usize) -> (String, Value) {
        let m = (i * 37) % self.tables.len();
        let (model_id, model) = (self.tables[m].unique_id.clone(), self.tables[m].name.clone());
        let name = format!("{model}_keeps_{}_rows", ["valid", "current", "paid"][i % 3]);
        let unique_id = format!("unit_test.shop.{model}.{name}");
        let mut u = self.t.unit_test.clone();
        u["name"] = json!(name);
        u["model"] = json!(model);
        u["unique_id"] = json!(unique_id);
        u["fqn"] = json!(["shop", model, name]);
        u["depends_on"]["nodes"] = json!([model_id]);
        let words = 6 + self.rng.usize(..10);
        u["description"] = json!(self.sentence(words));
        let status = if self.tables[m].status == "success" { "pass" } else { "skipped" };
        let mut r = self.t.test_result.clone();
        r["unique_id"] = json!(unique_id);
        self.finish_result(&mut r, status, None, (status == "pass").then_some(0));
        self.results.push(r);
        self.parents.insert(unique_id.clone(), vec![model_id]);
        (unique_id, u)
    }

    fn exposure(&mut self, i: usize) -> (String, Value) {
        let domain = DOMAINS[i % DOMAINS.len()];
        let name = format!("{domain}_dashboard_{i:03}");
        let unique_id = format!("exposure.shop.{name}");
        let marts: Vec<usize> = (0..3 + self.rng.usize(..6))
            .map(|_| {
                let k = self.rng.usize(..self.tables.len() / 10 + 1);
                (k * 10 + 7).min(self.tables.len() - 1)
            })
            .collect();
        let nodes: Vec<String> = marts.iter().map(|&k| self.tables[k].unique_id.clone()).collect();
        let refs: Vec<Value> =
            marts.iter().map(|&k| json!({"name": self.tables[k].name, "package": null, "version": null})).collect();
        let description = self.sentence(14);
        let e = json!({
            "name": name, "resource_type": "exposure", "package_name": "shop",
            "path": format!("marts/{domain}/_exposures.yml"), "original_file_path": format!("models/marts/{domain}/_exposures.yml"),
            "unique_id": unique_id, "fqn": ["shop", "marts", domain, name], "type": "dashboard",
            "owner": {"email": format!("{domain}-data@example.com"), "name": format!("{domain} analytics")},
            "description": description, "label": format!("{domain} dashboard {i}"), "maturity": "high",
            "meta": {}, "tags": [], "config": {"enabled": true, "tags": [], "meta": {}}, "unrendered_config": {},
            "url": format!("https://bi.example.com/dashboards/{i}"),
            "depends_on": {"macros": [], "nodes": nodes}, "refs": refs, "sources": [], "metrics": [],
            "created_at": 1_795_483_282.0 + i as f64 / 100.0
        });
        self.parents.insert(unique_id.clone(), nodes);
        (unique_id, e)
    }
}

fn writer(path: &Path) -> BufWriter<File> {
    BufWriter::with_capacity(1 << 20, File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// How big a project to write.
#[derive(Debug, Clone, Copy)]
pub struct Scale<'a> {
    pub models: usize,
    pub tests: usize,
    pub seed: u64,
    /// A `target/` of the shop project built by another dbt version, cloned instead of the
    /// fixture (its sources.json when it has one).
    pub template: Option<&'a Path>,
}

/// The template's three documents: the fixture's, or those of `scale.template`.
fn templates(scale: &Scale) -> std::io::Result<[Value; 3]> {
    let fixture = [TEMPLATE_MANIFEST, TEMPLATE_RESULTS, TEMPLATE_SOURCES];
    let mut out = Vec::with_capacity(3);
    for (name, fallback) in ["manifest.json", "run_results.json", "sources.json"].into_iter().zip(fixture) {
        let path = scale.template.map(|dir| dir.join(name));
        let text = match path {
            Some(path) if path.exists() || name != "sources.json" => std::fs::read_to_string(path)?,
            _ => fallback.to_string(),
        };
        out.push(serde_json::from_str(&text).map_err(std::io::Error::other)?);
    }
    Ok(out.try_into().expect("three documents"))
}

/// Writes `manifest.json`, `run_results.json` and `sources.json` into `dir` (created if missing).
pub fn write(scale: &Scale, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let [manifest, template_results, template_sources] = templates(scale)?;
    let mut g = Generator {
        rng: fastrand::Rng::with_seed(scale.seed),
        t: Templates::new(&manifest, &template_results, &template_sources),
        tables: Vec::with_capacity(scale.models),
        sources: Vec::new(),
        parents: BTreeMap::new(),
        results: Vec::with_capacity(scale.models + scale.tests),
        clock: 0,
    };
    let invocation_id = g.uuid();
    let mut metadata = manifest["metadata"].clone();
    metadata["invocation_id"] = json!(invocation_id);
    metadata["generated_at"] = json!("2026-11-24T01:00:00.000000Z");
    metadata["invocation_started_at"] = json!("2026-11-24T00:59:58.000000Z");

    let mut out = writer(&dir.join("manifest.json"));
    write!(out, "{{\"metadata\": {}", metadata)?;

    // Sources first: staging models read them.
    let source_nodes: Vec<(String, Value)> = (0..(scale.models / 10).max(1))
        .map(|i| {
            let s = g.source(i);
            (s["unique_id"].as_str().unwrap().to_string(), s)
        })
        .collect();
    let mut nodes = ObjectWriter::open(&mut out, "nodes")?;
    for i in 0..(scale.models / 500).max(1) {
        let s = g.seed(i);
        nodes.entry(s["unique_id"].as_str().unwrap(), &s)?;
    }
    for i in 0..scale.models {
        let m = g.model(i);
        nodes.entry(&g.tables[i].unique_id.clone(), &m)?;
    }
    for n in 0..scale.tests {
        let (id, t) = g.test(n);
        nodes.entry(&id, &t)?;
    }
    nodes.close()?;
    let mut sources = ObjectWriter::open(&mut out, "sources")?;
    for (id, s) in &source_nodes {
        sources.entry(id, s)?;
    }
    sources.close()?;
    for section in ["macros", "docs"] {
        write!(out, ", {}: {}", json!(section), manifest[section])?;
    }
    let mut exposures = ObjectWriter::open(&mut out, "exposures")?;
    for i in 0..(scale.models / 100).max(1) {
        let (id, e) = g.exposure(i);
        exposures.entry(&id, &e)?;
    }
    exposures.close()?;
    for section in ["metrics", "groups", "selectors", "disabled"] {
        write!(out, ", {}: {}", json!(section), manifest[section])?;
    }
    let unit_tests: Vec<(String, Value)> = (0..(scale.models / 50).max(1)).map(|i| g.unit_test(i)).collect();
    for (id, _) in &source_nodes {
        g.parents.insert(id.clone(), vec![]);
    }
    let mut children: BTreeMap<&str, Vec<&str>> = g.parents.keys().map(|k| (k.as_str(), vec![])).collect();
    for (child, parents) in &g.parents {
        for parent in parents {
            children.entry(parent.as_str()).or_default().push(child.as_str());
        }
    }
    let mut parent_map = ObjectWriter::open(&mut out, "parent_map")?;
    for (id, parents) in &g.parents {
        parent_map.entry(id, &json!(parents))?;
    }
    parent_map.close()?;
    let mut child_map = ObjectWriter::open(&mut out, "child_map")?;
    for (id, children) in &children {
        child_map.entry(id, &json!(children))?;
    }
    child_map.close()?;
    for section in ["group_map", "saved_queries", "semantic_models"] {
        write!(out, ", {}: {}", json!(section), manifest[section])?;
    }
    let mut units = ObjectWriter::open(&mut out, "unit_tests")?;
    for (id, u) in &unit_tests {
        units.entry(id, u)?;
    }
    units.close()?;
    write!(out, ", \"functions\": {}}}", manifest["functions"])?;
    out.flush()?;

    let elapsed = g.clock as f64 / 1e6;
    let mut results_out = writer(&dir.join("run_results.json"));
    let mut results_meta = template_results["metadata"].clone();
    results_meta["invocation_id"] = json!(invocation_id);
    results_meta["invocation_started_at"] = metadata["invocation_started_at"].clone();
    results_meta["generated_at"] = json!(g.stamp(g.clock + 1_000_000));
    serde_json::to_writer(
        &mut results_out,
        &json!({"metadata": results_meta, "results": g.results, "elapsed_time": elapsed, "args": template_results["args"]}),
    )?;
    results_out.flush()?;

    let freshness: Vec<Value> = source_nodes
        .iter()
        .filter(|(_, s)| !s["freshness"].is_null())
        .map(|(id, s)| {
            let mut r = g.t.freshness_result.clone();
            let (status, hours) = match g.rng.u8(..100) {
                0..=3 => ("error", 50 + g.rng.i64(0..100)),
                4..=11 => ("warn", 13 + g.rng.i64(0..30)),
                _ => ("pass", g.rng.i64(0..12)),
            };
            r["unique_id"] = json!(id);
            r["status"] = json!(status);
            r["criteria"] = s["freshness"].clone();
            let ago = hours * 3600 + g.rng.i64(0..3600);
            r["max_loaded_at_time_ago_in_s"] = json!(ago as f64 + 0.25);
            let snapshotted = g.clock + 2_000_000;
            r["snapshotted_at"] = json!(g.stamp(snapshotted).replace('Z', "+00:00"));
            r["max_loaded_at"] = json!(g.stamp(snapshotted - ago * 1_000_000).replace('Z', "+00:00"));
            r
        })
        .collect();
    let mut sources_meta = template_sources["metadata"].clone();
    sources_meta["invocation_id"] = json!(g.uuid());
    sources_meta["generated_at"] = json!(g.stamp(g.clock + 3_000_000));
    let mut sources_out = writer(&dir.join("sources.json"));
    serde_json::to_writer(
        &mut sources_out,
        &json!({"metadata": sources_meta, "results": freshness, "elapsed_time": 2.5}),
    )?;
    sources_out.flush()?;
    Ok(())
}
