//! One poll cycle at scale (issue 7): N DAGs behind a fake Airflow 2 (`/api/v1`, shaped like
//! the captured responses) that answers every request after a fixed latency, in a child
//! process so its CPU is not counted as ours. Prints, for a cold first poll and the warm
//! polls after it: requests, wall time, our CPU time (every thread of this process, from
//! `/proc/self/task/*/schedstat`), and the TCP connections the fake accepted.
//!
//! With `--airflows N`, N such deployments (each its own process, `--dags` DAGs each) watched
//! by one config as named `[[airflow]]` sources, read concurrently (issue 19).
//!
//! `cargo run --release --example poll_cycle -- [--dags 2000] [--airflows 1] [--latency-ms 20] [--polls 5]`

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use chrono::Utc;
use clap::Parser;
use serde_json::Value;
use tablestat::config::Config;
use tablestat::poller::{Engine, Prior};

#[derive(Parser, Clone)]
struct Args {
    /// DAGs per Airflow.
    #[arg(long, default_value_t = 2000)]
    dags: usize,
    /// Airflow deployments, each a fake of its own.
    #[arg(long, default_value_t = 1)]
    airflows: usize,
    /// Added to every answer of the fake Airflow.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Warm polls after the first.
    #[arg(long, default_value_t = 5)]
    polls: usize,
    /// Run as the fake Airflow: print the port, serve until stdin closes, then print the
    /// number of connections accepted.
    #[arg(long, hide = true)]
    serve: bool,
}

#[path = "../tests/suite/common/fleet.rs"]
mod fleet;

use fleet::dag_id;

#[derive(Clone)]
struct Fleet {
    dags: usize,
}

async fn dags(State(fleet): State<Fleet>, Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
    Json(fleet::dag_page(fleet.dags, offset, limit))
}

async fn runs(Json(body): Json<Value>) -> Json<Value> {
    Json(fleet::runs(&body))
}

async fn task_instances(Json(body): Json<Value>) -> Json<Value> {
    Json(fleet::task_instances(&body))
}

async fn serve(args: Args) {
    let latency = Duration::from_millis(args.latency_ms);
    let app = Router::new()
        .route("/api/v1/dags", get(dags))
        .route("/api/v1/dags/~/dagRuns/list", post(runs))
        .route("/api/v1/dags/~/dagRuns/~/taskInstances/list", post(task_instances))
        .with_state(Fleet { dags: args.dags })
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| async move {
            tokio::time::sleep(latency).await;
            next.run(request).await
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port on 127.0.0.1");
    println!("{}", listener.local_addr().expect("bound").port());
    std::io::stdout().flush().expect("stdout");
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let stdin_closed = async {
        tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await.ok();
    };
    axum::serve(listener, app).with_graceful_shutdown(stdin_closed).await.expect("serving");
    println!("{}", accepted.load(Ordering::Relaxed));
}

/// CPU time of every thread of this process so far, in nanoseconds.
fn cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Minor page faults of this process so far: memory touched for the first time.
fn page_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses); minflt is the 10th field.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after.split_whitespace().nth(7).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn measure(args: Args) {
    let airflows = args.airflows.max(1);
    let mut fakes = Vec::new();
    let mut text = String::new();
    for k in 0..airflows {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--serve", "--dags", &args.dags.to_string(), "--latency-ms", &args.latency_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the fake Airflow starts");
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the fake's port");
        let url = format!("http://127.0.0.1:{}", line.trim());
        if airflows == 1 {
            text.push_str(&format!("[airflow]\nurl = \"{url}\"\napi = \"v1\"\nauth = \"none\"\ntimeout = \"10s\"\n"));
        } else {
            text.push_str(&format!(
                "[[airflow]]\nname = \"af{k}\"\nurl = \"{url}\"\napi = \"v1\"\nauth = \"none\"\ntimeout = \"10s\"\n"
            ));
        }
        fakes.push((child, out));
    }
    for k in 0..airflows {
        for i in 0..args.dags {
            text.push_str(&format!("[[product]]\nid = \"p{k}_{i}\"\ndag = \"{}\"\ntask = \"dbt_build\"\n", dag_id(i)));
            if airflows > 1 {
                text.push_str(&format!("airflow = \"af{k}\"\n"));
            }
        }
    }
    let config = Arc::new(Config::parse(Path::new("/tmp/poll_cycle.toml"), &text).expect("config"));
    let mut engine = Engine::new(config).expect("engine");
    let prior = Prior::default();
    let mut now = Utc::now();
    println!(
        "{airflows} Airflow(s) of {} DAGs, {} ms latency per request, concurrency {} each",
        args.dags, args.latency_ms, 4
    );
    let target = airflows * (3 * args.dags.div_ceil(100) + 5);
    let mut warm = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for poll in 0..=args.polls {
        let (cpu, faults, started) = (cpu_ns(), page_faults(), Instant::now());
        let result = engine.poll(&prior, now).await;
        let (wall, cpu) = (started.elapsed().as_secs_f64() * 1e3, (cpu_ns() - cpu) as f64 / 1e6);
        let faults = page_faults() - faults;
        assert_eq!(result.airflow_error, None);
        assert_eq!(result.checked.len(), args.dags * airflows);
        let requests = result.airflow_requests;
        if poll == 0 {
            println!(
                "first poll: {requests} requests (target <= {target}), {wall:.0} ms wall, {cpu:.1} ms CPU, \
                 {faults} page faults"
            );
        } else {
            warm.0.push(requests as f64);
            warm.1.push(wall);
            warm.2.push(cpu);
            warm.3.push(faults as f64);
        }
        now += chrono::Duration::minutes(5);
    }
    if args.polls > 0 {
        println!(
            "next polls (median of {}): {} requests, {:.0} ms wall, {:.1} ms CPU, {} page faults",
            args.polls,
            median(warm.0),
            median(warm.1),
            median(warm.2),
            median(warm.3)
        );
    }
    let mut connections = 0;
    for (mut child, mut out) in fakes {
        drop(child.stdin.take());
        let mut line = String::new();
        out.read_line(&mut line).expect("the fake's connection count");
        child.wait().expect("the fake exits");
        connections += line.trim().parse::<u64>().unwrap_or(0);
    }
    println!("TCP connections accepted by the fakes over all {} polls: {connections}", args.polls + 1);
}

/// One thread, as the `tablestat` command and the board's poller run.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if args.serve { serve(args).await } else { measure(args).await }
}
