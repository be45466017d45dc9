//! Consumer runtime benchmark: messages per second through Cartwright's runtime with a
//! no-op handler, against a bare lapin consumer with manual acks, on the same quorum
//! queue kind with the same prefetch, on the same broker.
//!
//!   cargo run --release -p cartwright-bench --bin runtime -- --messages 20000
//!
//! The runtime does per message what the bare consumer does not: parse the envelope,
//! look the message up in the inbox, and commit an inbox row before acking (the price
//! of "never applied twice"). Both read from a queue filled beforehand, so publishing
//! is not measured.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cartwright_bench::results::{self, Consumers};
use cartwright_shared::config::Config;
use cartwright_shared::db;
use cartwright_shared::queue::broker::{self, Outgoing, Publisher};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{self, Context, Handler, HandlerError};
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::queue::work_queues::WorkQueue;
use cartwright_shared::shutdown::Shutdown;
use clap::Parser;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use secrecy::ExposeSecret;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    #[arg(long, default_value_t = 32)]
    prefetch: u16,
    /// Also write both rates to `<dir>/runtime.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

struct Noop(Arc<AtomicU64>);

impl Handler for Noop {
    fn queue(&self) -> WorkQueue {
        WorkQueue::new("bench-runtime", &[])
    }

    async fn handle(&self, _ctx: &mut Context, _message: &Envelope) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::from_env()?;
    config.broker.prefix = format!("bench-{}", std::process::id());
    config.broker.prefetch = args.prefetch;
    // Bench queues go away by themselves ten minutes after the run.
    config.broker.queue_expires = Some(Duration::from_secs(600));
    let pool = db::connect(&config.database)
        .await
        .context("DATABASE_URL")?;
    db::migrate(&pool).await?;
    let topology = Topology::new(&config.broker);
    let url = config.broker.url.expose_secret().to_owned();
    let connection =
        lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
    let publisher = Publisher::open(&connection).await?;
    topology.declare_exchanges(publisher.channel()).await?;

    // Cartwright's runtime.
    let queue = WorkQueue::new("bench-runtime", &[]);
    // The inbox is keyed by queue name, not prefix: an earlier run's rows would count.
    sqlx::query("DELETE FROM inbox WHERE consumer = $1")
        .bind(&queue.name)
        .execute(&pool)
        .await?;
    topology.declare_queue(publisher.channel(), &queue).await?;
    fill(&publisher, &topology.work(&queue.name), args.messages).await?;
    let handled = Arc::new(AtomicU64::new(0));
    let (stop, shutdown) = Shutdown::manual();
    let started = Instant::now();
    let runtime = tokio::spawn({
        let (handler, pool, broker, topology) = (
            Noop(handled.clone()),
            pool.clone(),
            config.broker.clone(),
            topology.clone(),
        );
        async move { handler::run(handler, pool, &broker, topology, shutdown).await }
    });
    // Handled is counted before the inbox commit and the ack; the inbox shows done.
    while inbox_count(&pool, &queue.name).await? < args.messages {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runtime_rate = args.messages as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    runtime.await?;

    // Bare lapin: consume and ack, nothing else.
    let bare = WorkQueue::new("bench-bare", &[]);
    topology.declare_queue(publisher.channel(), &bare).await?;
    fill(&publisher, &topology.work(&bare.name), args.messages).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            topology.work(&bare.name).into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut acked = 0;
    while acked < args.messages {
        let delivery = consumer.next().await.context("consumer ended")??;
        delivery.ack(BasicAckOptions::default()).await?;
        acked += 1;
    }
    let bare_rate = args.messages as f64 / started.elapsed().as_secs_f64();

    println!("| consumer | messages | prefetch | messages/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| Cartwright runtime, no-op handler | {} | {} | {runtime_rate:.0} |",
        args.messages, args.prefetch
    );
    println!(
        "| bare lapin, manual ack | {} | {} | {bare_rate:.0} |",
        args.messages, args.prefetch
    );
    println!("\nruntime / bare = {:.2}", runtime_rate / bare_rate);
    if let Some(dir) = &args.results {
        let consumer = |name: &str, rate| results::Consumer {
            consumer: name.to_owned(),
            messages: args.messages,
            prefetch: args.prefetch,
            per_second: rate,
        };
        let consumers = vec![
            consumer("Cartwright runtime", runtime_rate),
            consumer("bare lapin", bare_rate),
        ];
        results::write(dir, "runtime", &Consumers { consumers })?;
    }
    Ok(())
}

async fn fill(publisher: &Publisher, queue: &str, n: u64) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    for _ in 0..n {
        let envelope = Envelope::new("bench.event", "bench", serde_json::json!({}));
        let confirm = publisher
            .send(
                Outgoing {
                    exchange: "",
                    routing_key: queue,
                    message_id: &envelope.id.to_string(),
                    message_type: "bench.event",
                    correlation_id: "bench",
                    headers: FieldTable::default(),
                    expiration: None,
                },
                &envelope.to_bytes(),
            )
            .await?;
        pending.push(confirm);
        if pending.len() == 1000 {
            for confirm in pending.drain(..) {
                broker::confirmed(confirm).await?;
            }
        }
    }
    for confirm in pending {
        broker::confirmed(confirm).await?;
    }
    Ok(())
}

async fn inbox_count(pool: &sqlx::PgPool, consumer: &str) -> anyhow::Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1")
        .bind(consumer)
        .fetch_one(pool)
        .await?;
    Ok(n as u64)
}
