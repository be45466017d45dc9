//! The whole pipeline under load (issue 15): a running API with `cartwright-workers all`
//! and the Stripe emulator behind it, the bench's SKUs in a store that places manually.
//! `--clients` closed-loop clients submit one-line checkouts for `--seconds`; the
//! figure is the checkouts **routed** to the manual queue per second over that window
//! (sustained, not a burst drained later), with what each checkout cost the shared
//! parts, measured from the window's start until every checkout of it is routed and
//! every outbox row published:
//! - PostgreSQL and RabbitMQ CPU (from /proc: every `postgres` process plus what the
//!   postmaster's exited children used; `beam.smp`);
//! - transactions and rows read (pg_stat_database), statements (pg_stat_statements,
//!   when the server preloads it) and messages published (outbox rows).
//!
//! `bench/run pipeline` starts the system on private ports and a scratch database and
//! runs it spread over 64 SKUs and hot on one; on its own:
//!
//!   cargo run --release -p cartwright-bench --bin pipeline -- --api http://127.0.0.1:8080 \
//!       --storefront-key "$STOREFRONT_KEY" --ops-key "$OPS_KEY" --label spread

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cartwright_bench::load::{self, Submitted};
use cartwright_bench::results::{self, Pipeline, PipelineRun};
use clap::Parser;
use serde_json::json;
use sqlx::PgPool;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "STOREFRONT_KEY")]
    storefront_key: String,
    #[arg(long, env = "OPS_KEY")]
    ops_key: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// A store whose placement mode is `manual` (the demo's Corner Books).
    #[arg(long, default_value = "corner-books")]
    store: String,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// SKUs the clients spread over; 1 is the hot-product case.
    #[arg(long, default_value_t = 64)]
    skus: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The run's name in the results (e.g. spread, hot).
    #[arg(long)]
    label: String,
    /// Give up waiting for the window's checkouts to be routed after this long.
    #[arg(long, default_value_t = 300)]
    drain_timeout_secs: u64,
    /// The reference transaction's rate on the same server (`run_reference.sh`, 8
    /// clients), measured just before: the routed rate is judged as a ratio to it.
    #[arg(long)]
    reference_per_second: Option<f64>,
    /// Also add the run to `<dir>/pipeline.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = PgPool::connect(&args.database_url).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let prefix = format!("PIPE-{}", args.label.to_uppercase());
    for sku in 0..args.skus {
        let stocked = client
            .put(format!("{}/v1/ops/catalog/{prefix}-{sku}", args.api))
            .bearer_auth(&args.ops_key)
            .json(
                &json!({"store": args.store, "title": "Pipeline widget", "price": "10.00",
                          "stock": 1_000_000}),
            )
            .send()
            .await
            .context("is the API running?")?;
        if !stocked.status().is_success() {
            bail!("stocking {prefix}-{sku} failed: {}", stocked.text().await?);
        }
    }
    // The statement counter, where the server has it (shared_preload_libraries).
    let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&pool)
        .await;

    // A few seconds of the same load first: pools fill, statements are prepared.
    load(&client, &args, &prefix, Duration::from_secs(3)).await?;
    wait_drained(&pool, Duration::from_secs(args.drain_timeout_secs)).await?;
    // A running system's tables have statistics; a scratch database's have none until
    // autovacuum's first pass, and plans made without them scan (BENCHMARKS.md, part 7).
    sqlx::query("ANALYZE").execute(&pool).await?;

    let before = Snapshot::take(&pool).await?;
    let started = Instant::now();
    let submitted = load(&client, &args, &prefix, Duration::from_secs(args.seconds)).await?;
    let window = started.elapsed();
    let routed_in_window = routed(&pool).await? - before.routed;
    wait_drained(&pool, Duration::from_secs(args.drain_timeout_secs)).await?;
    let drained = started.elapsed();
    let after = Snapshot::take(&pool).await?;

    let checkouts = submitted.latencies_ms.len();
    if checkouts == 0 {
        bail!("no checkout was accepted ({} errors)", submitted.errors);
    }
    let per = |v: f64| v / checkouts as f64;
    let statements = match (before.statements, after.statements) {
        (Some(b), Some(a)) => Some(per((a - b) as f64)),
        _ => None,
    };
    let mut ms = submitted.latencies_ms;
    ms.sort_unstable_by(f64::total_cmp);
    let run = PipelineRun {
        label: args.label.clone(),
        clients: args.clients,
        skus: args.skus,
        seconds: window.as_secs_f64(),
        checkouts,
        errors: submitted.errors,
        intake_per_second: checkouts as f64 / window.as_secs_f64(),
        intake_p99_ms: results::quantile(&ms, 0.99),
        routed_per_second: routed_in_window as f64 / window.as_secs_f64(),
        drained_seconds: drained.as_secs_f64(),
        postgres_cpu_ms: per(after.postgres_cpu_ms - before.postgres_cpu_ms),
        rabbitmq_cpu_ms: per(after.rabbitmq_cpu_ms - before.rabbitmq_cpu_ms),
        transactions: per((after.transactions - before.transactions) as f64),
        statements,
        rows_read: per((after.rows_read - before.rows_read) as f64),
        messages: per((after.messages - before.messages) as f64),
    };
    println!(
        "{}: {} checkouts in {:.0}s from {} clients over {} SKUs: intake {:.0}/s (p99 {:.0} ms), routed {:.0}/s in the window, all routed at {:.1}s",
        run.label,
        run.checkouts,
        run.seconds,
        run.clients,
        run.skus,
        run.intake_per_second,
        run.intake_p99_ms,
        run.routed_per_second,
        run.drained_seconds
    );
    println!(
        "per checkout: PostgreSQL {:.2} ms CPU, RabbitMQ {:.2} ms CPU, {:.1} transactions, {} statements, {:.0} rows read, {:.1} messages",
        run.postgres_cpu_ms,
        run.rabbitmq_cpu_ms,
        run.transactions,
        run.statements
            .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1}")),
        run.rows_read,
        run.messages
    );
    if let Some(reference) = args.reference_per_second {
        println!(
            "routed rate against the reference transaction ({reference:.0}/s): {:.2}x in the window, {:.2}x over the whole run ({:.0}/s)",
            run.routed_per_second / reference,
            run.whole_run_per_second() / reference,
            run.whole_run_per_second()
        );
    }
    if let Some(dir) = &args.results {
        let mut all: Pipeline = results::read(dir, "pipeline")?.unwrap_or_default();
        all.reference_per_second = args.reference_per_second.or(all.reference_per_second);
        all.runs.retain(|r| r.label != run.label);
        all.runs.push(run);
        results::write(dir, "pipeline", &all)?;
    }
    Ok(())
}

async fn load(
    client: &reqwest::Client,
    args: &Args,
    prefix: &str,
    length: Duration,
) -> anyhow::Result<Submitted> {
    let skus = args.skus.max(1);
    load::checkouts(
        client,
        &args.api,
        &args.storefront_key,
        args.clients,
        |i| format!("{prefix}-{}", i % skus),
        length,
    )
    .await
}

/// Orders in the manual queue.
async fn routed(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM manual_placements")
        .fetch_one(pool)
        .await?)
}

/// Until every order of every checkout is in the manual queue and the outbox is empty.
async fn wait_drained(pool: &PgPool, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let (waiting, unpublished): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM orders WHERE status <> 'awaiting_manual'),
                    (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
        )
        .fetch_one(pool)
        .await?;
        if waiting == 0 && unpublished == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{waiting} orders not routed and {unpublished} outbox rows unpublished after {timeout:?}"
            );
        }
        // Each look counts every order (no index serves "not routed yet"): often, it was
        // half the rows read per checkout the run reports.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Cumulative counters at one moment.
struct Snapshot {
    routed: i64,
    postgres_cpu_ms: f64,
    rabbitmq_cpu_ms: f64,
    transactions: i64,
    rows_read: i64,
    statements: Option<i64>,
    messages: i64,
}

impl Snapshot {
    async fn take(pool: &PgPool) -> anyhow::Result<Self> {
        let (transactions, rows_read): (i64, i64) = sqlx::query_as(
            "SELECT (xact_commit + xact_rollback)::BIGINT, (tup_returned + tup_fetched)::BIGINT
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        let statements: Option<i64> = sqlx::query_scalar(
            "SELECT sum(calls)::BIGINT FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(pool)
        .await
        .ok()
        .flatten();
        let messages: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM outbox")
            .fetch_one(pool)
            .await?;
        Ok(Self {
            routed: routed(pool).await?,
            postgres_cpu_ms: cpu_ms("postgres")?,
            rabbitmq_cpu_ms: cpu_ms("beam.smp")?,
            transactions,
            rows_read,
            statements,
            messages,
        })
    }
}

/// CPU used so far by every process named `name`, and by their exited children (which
/// is how the postmaster accounts for finished connections).
fn cpu_ms(name: &str) -> anyhow::Result<f64> {
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc")? {
        let path = entry?.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime stime cutime cstime (fields 14 to 17)
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if head.split_once(" (").map(|(_, comm)| comm) != Some(name) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field n is fields[n - 3].
        // A top process (the postmaster, beam.smp) also counts its exited children
        // (cutime, cstime); its live children are counted on their own.
        let top = fields
            .get(1)
            .and_then(|ppid| std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok())
            .is_none_or(|comm| comm.trim() != name);
        let last = if top { 14 } else { 12 };
        ticks += fields[11..=last.min(fields.len() - 1)]
            .iter()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum::<u64>();
    }
    // USER_HZ is 100 on every Linux this runs on.
    Ok(ticks as f64 * 10.0)
}
