//! Intake benchmark: accepted checkouts per second and latency (p50, p99, max) at each
//! concurrency level, against a running API (`scripts/up`, ideally PROFILE=release).
//!
//!   cargo run --release -p cartwright-bench --bin intake -- \
//!       --storefront-key "$STOREFRONT_KEY" --ops-key "$OPS_KEY" --concurrency 1,8,32,128
//!
//! Start the API with `RATE_LIMIT_PER_SECOND=0` (the per-key limit would be measured
//! otherwise). Each request is a fresh checkout (own Idempotency-Key) of one line from a
//! SKU the bench stocks generously first, so the figure is the full intake transaction: auth,
//! idempotency lock and store, catalog read, stock reservation, checkout, order, lines,
//! hold, audit rows and outbox message, all in one commit.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cartwright_bench::load;
use cartwright_bench::results::{self, Level, Levels};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "STOREFRONT_KEY")]
    storefront_key: String,
    #[arg(long, env = "OPS_KEY")]
    ops_key: String,
    /// Concurrency levels to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    concurrency: Vec<usize>,
    /// SKUs the clients spread over (client i buys BENCH-(i mod n)); 1 measures the
    /// hot-SKU case, where every checkout waits on the same row lock.
    #[arg(long, default_value_t = 64)]
    skus: usize,
    /// Seconds measured per level (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Also write the levels to `<dir>/intake.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    for sku in 0..args.skus {
        let stocked = client
            .put(format!("{}/v1/ops/catalog/BENCH-{sku}", args.api))
            .bearer_auth(&args.ops_key)
            .json(&json!({"store": "nordwind", "title": "Benchmark widget", "price": "10.00", "stock": 1_000_000}))
            .send()
            .await
            .context("is the API running? (scripts/up)")?;
        if !stocked.status().is_success() {
            bail!("stocking BENCH-{sku} failed: {}", stocked.text().await?);
        }
    }

    let mut levels = Vec::new();
    for &clients in &args.concurrency {
        run(&client, &args, clients, Duration::from_secs(1)).await?;
        levels.push(run(&client, &args, clients, Duration::from_secs(args.seconds)).await?);
    }
    println!("| clients | accepted | errors | checkouts/s | p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for l in &levels {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
            l.clients, l.accepted, l.errors, l.per_second, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    if let Some(dir) = &args.results {
        results::write(dir, "intake", &Levels { levels })?;
    }
    Ok(())
}

async fn run(
    client: &reqwest::Client,
    args: &Args,
    clients: usize,
    length: Duration,
) -> anyhow::Result<Level> {
    let started = Instant::now();
    let skus = args.skus.max(1);
    let submitted = load::checkouts(
        client,
        &args.api,
        &args.storefront_key,
        clients,
        |i| format!("BENCH-{}", i % skus),
        length,
    )
    .await?;
    let errors = submitted.errors;
    let elapsed = started.elapsed();
    let mut ms = submitted.latencies_ms;
    ms.sort_unstable_by(f64::total_cmp);
    Ok(Level {
        clients,
        connections: None,
        accepted: ms.len(),
        errors,
        per_second: ms.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: results::quantile(&ms, 0.50),
        p99_ms: results::quantile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or_default(),
    })
}
