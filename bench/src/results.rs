//! Machine-readable results, one JSON file per part in the results directory. The
//! browser figures come from `workers/examples/browser_bench.rs`, which writes the
//! [`Browser`] shape by hand (the workers crate cannot depend on this one).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One concurrency level of a closed-loop load: the intake API, or pgbench.
#[derive(Serialize, Deserialize, Clone)]
pub struct Level {
    pub clients: usize,
    /// Database connections, when fewer than clients (pgbench: one per client, capped
    /// at the API's pool size, because PostgreSQL's max_connections is 100 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    pub accepted: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `intake.json` and `pgbench.json`.
#[derive(Serialize, Deserialize)]
pub struct Levels {
    pub levels: Vec<Level>,
}

/// One consumer's drain of a pre-filled queue (`runtime.json` holds several,
/// `celery.json` one).
#[derive(Serialize, Deserialize, Clone)]
pub struct Consumer {
    pub consumer: String,
    pub messages: u64,
    pub prefetch: u16,
    pub per_second: f64,
    /// Cartwright's runtime only: its inbox statements during the drain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox: Option<InboxStatements>,
}

/// What the runtime's grouped inbox did during a drain, from its own metrics
/// (`cartwright_inbox_group_size`, `cartwright_inbox_statement_seconds`): the counter
/// that shows what bounds the runtime.
#[derive(Serialize, Deserialize, Clone)]
pub struct InboxStatements {
    /// Look-ups and records together, per message drained.
    pub per_message: f64,
    /// Mean statement duration, look-ups and records together.
    pub mean_ms: f64,
}

#[derive(Serialize, Deserialize)]
pub struct Consumers {
    pub consumers: Vec<Consumer>,
}

/// Resident memory of one process, idle and at its peak under the end-to-end load.
#[derive(Serialize, Deserialize, Clone)]
pub struct Memory {
    pub process: String,
    pub idle_kib: u64,
    pub peak_kib: u64,
}

/// `e2e.json`: checkouts from intake until every order is routed and every checkout
/// captured, with the memory of the processes that did it.
#[derive(Serialize, Deserialize)]
pub struct EndToEnd {
    pub checkouts: usize,
    pub orders: usize,
    pub submit_seconds: f64,
    pub routed_seconds: f64,
    pub captured_seconds: f64,
    pub memory: Vec<Memory>,
}

/// `stripe.json`: authorize + capture pairs per second straight against the emulator.
#[derive(Serialize, Deserialize)]
pub struct Stripe {
    pub payments: usize,
    pub concurrency: usize,
    pub seconds: f64,
}

/// `recovery.json`: a backlog in the outbox while the broker is down, drained after it
/// returns.
#[derive(Serialize, Deserialize)]
pub struct Recovery {
    pub messages: u64,
    /// From the broker listening again until the first message is handled.
    pub reconnect_seconds: f64,
    /// From the broker listening again until the last message is handled.
    pub drain_seconds: f64,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct BrowserLevel {
    pub pool: usize,
    pub orders: usize,
    pub seconds_per_order: f64,
    pub orders_per_minute: f64,
}

/// `browser.json`.
#[derive(Serialize, Deserialize)]
pub struct Browser {
    pub warm_seconds_per_order: f64,
    pub levels: Vec<BrowserLevel>,
}

pub fn path(dir: &Path, part: &str) -> PathBuf {
    dir.join(format!("{part}.json"))
}

pub fn write<T: Serialize>(dir: &Path, part: &str, value: &T) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = path(dir, part);
    std::fs::write(&file, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", file.display()))
}

/// `None` when the part was not run.
pub fn read<T: DeserializeOwned>(dir: &Path, part: &str) -> anyhow::Result<Option<T>> {
    let file = path(dir, part);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// Latency percentiles of a sorted sample: the value at rank `q` of the sample.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
    sorted[rank]
}

/// One run of the whole pipeline (`pipeline.json` holds the spread and the hot run),
/// per-checkout figures measured from the window's start until all of it was routed.
#[derive(Serialize, Deserialize, Clone)]
pub struct PipelineRun {
    pub label: String,
    pub clients: usize,
    pub skus: usize,
    pub seconds: f64,
    pub checkouts: usize,
    pub errors: usize,
    pub intake_per_second: f64,
    pub intake_p99_ms: f64,
    /// Checkouts routed to the manual queue during the window, per second.
    pub routed_per_second: f64,
    /// From the window's start until every checkout of it was routed.
    pub drained_seconds: f64,
    pub postgres_cpu_ms: f64,
    pub rabbitmq_cpu_ms: f64,
    pub transactions: f64,
    /// None when the server does not preload pg_stat_statements.
    pub statements: Option<f64>,
    pub rows_read: f64,
    pub messages: f64,
}

impl PipelineRun {
    /// Every checkout of the window over the time until the last of them was routed:
    /// what the system sustains end to end, where routed-in-window counts only what
    /// routing got of the CPU while intake ran.
    pub fn whole_run_per_second(&self) -> f64 {
        self.checkouts as f64 / self.drained_seconds
    }
}

#[derive(Serialize, Deserialize, Default)]
pub struct Pipeline {
    pub runs: Vec<PipelineRun>,
    /// `../shared/perf/run_reference.sh` at 8 clients, in the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_per_second: Option<f64>,
}
