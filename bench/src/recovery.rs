//! Recovery: how long a backlog takes to drain once the broker is back. On a private
//! RabbitMQ node (testkit's `RabbitNode`, its own port and data) with a scratch
//! database (testkit's `QueueEnv`): the relay and a consumer run, the node is stopped,
//! `--messages` outbox rows are written while it is down, the node is started again, and
//! the clock runs from its listener being back until the consumer has handled the last
//! row (relay reconnect, publish with confirms, consumer reconnect, inbox and effect
//! commit per message).
//!
//!   cargo run --release -p cartwright-bench --bin recovery -- --messages 10000
//!
//! Runs as root (as `bench/run` does): the node drops to the rabbitmq user.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use cartwright_bench::results::{self, Recovery};
use cartwright_testkit::broker::{QueueEnv, RabbitNode};
use cartwright_testkit::test_handler::{Behaviour, TestHandler};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    /// Give up when the backlog is not drained after this long.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Also write the figures to `<dir>/recovery.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

/// Rows per outbox transaction and aggregate while filling the backlog.
const BATCH: u64 = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::Slow(Duration::ZERO),
    });
    // The consumer declares its queue before the relay publishes to it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.spawn_relay();
    env.emit("warm-up", 1).await;
    wait_for(&env, 1, Duration::from_secs(60)).await?;

    node.stop().await;
    let mut written = 0;
    while written < args.messages {
        let n = BATCH.min(args.messages - written);
        env.emit(&format!("backlog-{written}"), n as usize).await;
        written += n;
    }
    let total = 1 + args.messages;
    node.restart().await;
    let back = Instant::now();
    let timeout = Duration::from_secs(args.timeout_secs);
    wait_for(&env, 2, timeout).await?;
    let reconnect_seconds = back.elapsed().as_secs_f64();
    wait_for(&env, total, timeout).await?;
    let drain_seconds = back.elapsed().as_secs_f64();
    println!(
        "recovery: {} messages backlog: first handled {reconnect_seconds:.1}s after the broker was back, all after {drain_seconds:.1}s ({:.0} messages/s)",
        args.messages,
        args.messages as f64 / drain_seconds
    );
    let database = env.app.database_url.clone();
    env.stop().await;
    drop(node);
    drop_database(&database).await;
    if let Some(dir) = &args.results {
        let figures = Recovery {
            messages: args.messages,
            reconnect_seconds,
            drain_seconds,
        };
        results::write(dir, "recovery", &figures)?;
    }
    Ok(())
}

async fn wait_for(env: &QueueEnv, handled: u64, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let done = env.scalar("SELECT count(*) FROM test_effects").await;
        if done as u64 >= handled {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("after {within:?}: {done} of {handled} messages handled");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scratch database goes now rather than with testkit's hourly sweep.
async fn drop_database(url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = format!("{}/postgres", cartwright_testkit::server_url());
    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        pool.close().await;
    }
}
