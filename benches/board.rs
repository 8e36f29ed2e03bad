//! The board's costs at scale: the full query (uptime for four windows and 90-day bars for
//! every product), one poll's write with 1 % of metrics changing, drawing the list of all
//! products into a 200x50 frame, and what a poll reads first (each metric's last judgment).
//! Run: `cargo bench --bench board` (5,000 products), or with `TABLESTAT_BENCH_PRODUCTS=20000`.
//! On PostgreSQL: `TABLESTAT_BENCH_POSTGRES=postgres://user@host/db` (a database the bench may
//! wipe: its `public` schema is dropped and made again).

use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use tablestat::demo::{seed, world};
use tablestat::evaluate::Evaluation;
use tablestat::model::{Evidence, Metric, State, Verdict};
use tablestat::poller::Checked;
use tablestat::store::{BoardSnapshot, PollRecord, Store};
use tablestat::tui::app::App;
use tablestat::tui::theme::Theme;
use tablestat::tui::views::{self, Board};

/// How many products: 5,000 unless `TABLESTAT_BENCH_PRODUCTS` says.
fn products() -> usize {
    static PRODUCTS: OnceLock<usize> = OnceLock::new();
    *PRODUCTS
        .get_or_init(|| std::env::var("TABLESTAT_BENCH_PRODUCTS").ok().and_then(|n| n.parse().ok()).unwrap_or(5000))
}

fn main() {
    divan::main();
}

fn now() -> i64 {
    1_795_000_000
}

/// An empty store named `name`: a file under target/, or the PostgreSQL database
/// `TABLESTAT_BENCH_POSTGRES` names, emptied.
fn empty_store(name: &str) -> Store {
    if let Ok(url) = std::env::var("TABLESTAT_BENCH_POSTGRES") {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public").unwrap();
        return Store::open_postgres(&url).unwrap();
    }
    // Under target/ and replaced each run: statics are never dropped, so a temporary
    // directory per process would be left behind by every run.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    Store::open(&dir.join("history.db")).unwrap()
}

/// The products x 90 days of history.
fn store() -> &'static Mutex<Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = empty_store("board-bench");
        let products = world::synthetic_products(products());
        store.import(&products, &seed::history(&products, now(), 1)).unwrap();
        Mutex::new(store)
    })
}

fn snapshot() -> Arc<BoardSnapshot> {
    static SNAPSHOT: OnceLock<Arc<BoardSnapshot>> = OnceLock::new();
    SNAPSHOT
        .get_or_init(|| Arc::new(store().lock().unwrap().snapshot(now(), FixedOffset::east_opt(0).unwrap()).unwrap()))
        .clone()
}

#[divan::bench(sample_count = 10)]
fn board_query_90_days() -> BoardSnapshot {
    store().lock().unwrap().snapshot(now(), FixedOffset::east_opt(0).unwrap()).unwrap()
}

#[divan::bench]
fn list_frame_200x50(bencher: divan::Bencher) {
    let mut app = App::new(snapshot(), now());
    let area = Rect::new(0, 0, 200, 50);
    app.set_page(views::list_page(area, &app));
    let theme = Theme::new(true, false, false);
    let mut buffer = Buffer::empty(area);
    bencher.bench_local(|| {
        buffer.reset();
        (&Board { app: &app, theme: &theme }).render(area, &mut buffer);
    });
}

fn checked(product: &Arc<tablestat::model::Product>, at: i64, down: bool) -> Checked {
    let metrics: Vec<(Metric, Verdict)> = product
        .metrics
        .iter()
        .map(|m| {
            let state = if down && *m == Metric::Uniqueness { State::Down } else { State::Up };
            (m.clone(), Verdict::new(state, "tests passed"))
        })
        .collect();
    Checked {
        product: Arc::clone(product),
        evaluation: Evaluation {
            state: if down { State::Down } else { State::Up },
            metrics,
            evidence: Evidence::default(),
            note: None,
            refresh: None,
            run_finished_at: None,
            cause: None,
        },
        checked_at: DateTime::<Utc>::from_timestamp(at, 0).unwrap(),
        interval: std::time::Duration::from_secs(300),
    }
}

/// A poll of every product, as the poller writes it; `changed` of them flip uniqueness.
fn poll_write(bencher: divan::Bencher, every: usize) {
    // Shared as the engine shares them: the writer tells an unchanged set by address.
    let products: Vec<Arc<_>> = world::synthetic_products(products()).into_iter().map(Arc::new).collect();
    let mut store = store().lock().unwrap();
    let mut round = 0i64;
    bencher
        .with_inputs(|| {
            round += 1;
            let at = now() + round * 60;
            // Every product polled; one in `every` flips its uniqueness each odd round (and
            // back the next), opening and resolving incidents.
            let polled: Vec<Checked> = products
                .iter()
                .enumerate()
                .map(|(i, p)| checked(p, at, every > 0 && i % every == 0 && round % 2 == 1))
                .collect();
            (at, polled)
        })
        // By reference: dropping the 5,000 evaluations is the poll's cost, not the write's.
        .bench_local_refs(|(at, polled)| {
            store
                .record_poll(&PollRecord {
                    started: *at,
                    finished: *at,
                    error: None,
                    airflow_requests: 60,
                    dbt_requests: 0,
                    checked: polled,
                    products: &products,
                    open_incident_after: 1,
                    critical_maturities: &[],
                    sources: &[],
                    holder: None,
                })
                .unwrap()
        });
}

#[divan::bench(sample_count = 20)]
fn poll_write_1_percent_changed(bencher: divan::Bencher) {
    poll_write(bencher, 100);
}

#[divan::bench(sample_count = 20)]
fn poll_write_nothing_changed(bencher: divan::Bencher) {
    poll_write(bencher, 0);
}

/// What the poller reads before each poll: every metric's last judgment. Most are current.
#[divan::bench(sample_count = 10)]
fn prior(bencher: divan::Bencher) {
    let products = world::synthetic_products(products());
    let store = store().lock().unwrap();
    bencher.bench_local(|| store.prior(&products, now()).unwrap());
}

/// The same after a poll that could not see (Airflow down): every metric's current span is
/// `unknown`, so each last judgment is read back behind it.
#[divan::bench(sample_count = 10)]
fn prior_after_an_outage(bencher: divan::Bencher) {
    let mut store = empty_store("prior-bench");
    let plain = world::synthetic_products(products());
    store.import(&plain, &seed::history(&plain, now(), 1)).unwrap();
    let products: Vec<Arc<_>> = plain.iter().cloned().map(Arc::new).collect();
    let at = now() + 60;
    let blind: Vec<Checked> = products
        .iter()
        .map(|p| {
            let mut c = checked(p, at, false);
            for (_, v) in &mut c.evaluation.metrics {
                *v = Verdict::new(State::Unknown, "Airflow could not be read since x: 503");
            }
            c.evaluation.state = State::Unknown;
            c
        })
        .collect();
    store
        .record_poll(&PollRecord {
            started: at,
            finished: at,
            error: Some("503"),
            airflow_requests: 1,
            dbt_requests: 0,
            checked: &blind,
            products: &products,
            open_incident_after: 1,
            critical_maturities: &[],
            sources: &[],
            holder: None,
        })
        .unwrap();
    bencher.bench_local(|| store.prior(&plain, at + 60).unwrap());
}
