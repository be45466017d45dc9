//! End to end: checkouts submitted to a running API with every worker, the Stripe
//! emulator and the demo retailers behind it; seconds until every order is routed
//! (status `placing` or `awaiting_manual`) and until every checkout is captured
//! (`completed`: both orders bought on the retailers' sites by the browser worker, then
//! settled). Samples the resident memory (VmRSS) of the processes named with `--pid`,
//! idle before the load and at its peak during it. `bench/run e2e` starts the system on
//! private ports and a scratch database; on its own:
//!
//!   cargo run --release -p cartwright-bench --bin e2e -- --api http://127.0.0.1:8080 \
//!       --storefront-key "$STOREFRONT_KEY" --checkouts 50 --pid api=$(cat var/run/api.pid)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cartwright_bench::results::{self, EndToEnd, Memory};
use clap::Parser;
use futures::StreamExt;
use serde_json::json;

/// One line from each automated demo store: every checkout makes two orders, both
/// bought through the browser worker.
const LINES: [&str; 2] = ["NORD-1006", "RACK-2003"];

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "STOREFRONT_KEY")]
    storefront_key: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 50)]
    checkouts: usize,
    /// Checkouts submitted at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// A process to watch, as name=pid (repeatable).
    #[arg(long = "pid", value_parser = parse_pid)]
    pids: Vec<(String, u32)>,
    /// Give up when not every checkout is captured after this long.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Also write the figures to `<dir>/e2e.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

fn parse_pid(raw: &str) -> Result<(String, u32), String> {
    let (name, pid) = raw.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|e| format!("{e}"))?))
}

/// VmRSS from /proc/<pid>/status, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS for process {pid}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = sqlx::PgPool::connect(&args.database_url).await?;
    // Enough stock that no checkout is refused and no low-stock alert fires.
    sqlx::query("UPDATE skus SET stock = stock + $2 WHERE sku = ANY($1)")
        .bind(LINES.map(str::to_owned).to_vec())
        .bind(i32::try_from(args.checkouts * 10).context("too many checkouts")?)
        .execute(&pool)
        .await?;

    let mut idle = BTreeMap::new();
    for (name, pid) in &args.pids {
        idle.insert(name.clone(), rss_kib(*pid)?);
    }
    let peak = Arc::new(Mutex::new(idle.clone()));
    let sampler = tokio::spawn({
        let (pids, peak) = (args.pids.clone(), peak.clone());
        async move {
            loop {
                for (name, pid) in &pids {
                    if let (Ok(kib), Ok(mut peak)) = (rss_kib(*pid), peak.lock()) {
                        let seen = peak.entry(name.clone()).or_default();
                        *seen = (*seen).max(kib);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });

    let client = reqwest::Client::new();
    let body = json!({
        "customer": {"email": "bench@example.com", "name": "Bench Mark"},
        "shipping_address": {"name": "Bench Mark", "line1": "1 Loop Rd", "city": "Austin",
            "state": "TX", "postal_code": "73301", "country": "US"},
        "items": LINES.map(|sku| json!({"sku": sku, "quantity": 1})),
        "payment_method": "pm_card_visa", "currency": "usd"
    });
    let started = Instant::now();
    let submitted: Vec<anyhow::Result<String>> = futures::stream::iter(0..args.checkouts)
        .map(|_| {
            let (client, body) = (client.clone(), &body);
            let (url, key) = (format!("{}/v1/checkouts", args.api), &args.storefront_key);
            async move {
                let response = client
                    .post(url)
                    .bearer_auth(key)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(body)
                    .send()
                    .await
                    .context("is the API running?")?;
                if response.status().as_u16() != 202 {
                    bail!("checkout refused: {}", response.text().await?);
                }
                let accepted: serde_json::Value = response.json().await?;
                accepted["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no id in the answer")
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let ids = submitted.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let submit_seconds = started.elapsed().as_secs_f64();
    let orders = ids.len() * LINES.len();

    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut routed_seconds = None;
    let captured_seconds = loop {
        let (routed, captured, failed): (i64, i64, i64) = sqlx::query_as(
            "SELECT
               (SELECT count(DISTINCT order_number) FROM status_history
                 WHERE checkout_id = ANY($1) AND to_status IN ('placing', 'awaiting_manual')),
               (SELECT count(*) FROM checkouts WHERE id = ANY($1) AND status = 'completed'),
               (SELECT count(*) FROM checkouts WHERE id = ANY($1)
                 AND status IN ('payment_failed', 'expired', 'cancelled'))",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await?;
        if routed_seconds.is_none() && routed as usize >= orders {
            routed_seconds = Some(started.elapsed().as_secs_f64());
        }
        if captured as usize >= ids.len() {
            break started.elapsed().as_secs_f64();
        }
        if failed > 0 {
            bail!("{failed} checkouts failed, were cancelled or expired: see the workers' log");
        }
        if Instant::now() > deadline {
            bail!(
                "after {}s: {routed}/{orders} orders routed, {captured}/{} checkouts captured",
                args.timeout_secs,
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    sampler.abort();

    let peak = peak.lock().map(|p| p.clone()).unwrap_or_default();
    let memory: Vec<Memory> = idle
        .iter()
        .map(|(name, &idle_kib)| Memory {
            process: name.clone(),
            idle_kib,
            peak_kib: peak.get(name).copied().unwrap_or(idle_kib),
        })
        .collect();
    let figures = EndToEnd {
        checkouts: ids.len(),
        orders,
        submit_seconds,
        routed_seconds: routed_seconds.unwrap_or(captured_seconds),
        captured_seconds,
        memory,
    };
    println!(
        "{} checkouts ({} orders): submitted in {:.1}s, all routed at {:.1}s ({:.1} checkouts/s), all captured at {:.1}s ({:.2} checkouts/s)",
        figures.checkouts,
        figures.orders,
        figures.submit_seconds,
        figures.routed_seconds,
        figures.checkouts as f64 / figures.routed_seconds,
        figures.captured_seconds,
        figures.checkouts as f64 / figures.captured_seconds
    );
    for m in &figures.memory {
        println!(
            "{}: RSS {} MiB idle, {} MiB peak",
            m.process,
            m.idle_kib / 1024,
            m.peak_kib / 1024
        );
    }
    if let Some(dir) = &args.results {
        results::write(dir, "e2e", &figures)?;
    }
    Ok(())
}
