//! Consumer runtime benchmark: messages per second through Cartwright's runtime with a
//! no-op handler, against a bare lapin consumer with manual acks, on the same quorum
//! queue kind with the same prefetch, on the same broker; at one or more prefetch
//! levels.
//!
//!   cargo run --release -p cartwright-bench --bin runtime -- --messages 20000 --prefetch 32,128
//!
//! The runtime does per message what the bare consumer does not: parse the envelope,
//! look the message up in the inbox, and commit an inbox row before acking (the price
//! of "never applied twice"). Both read from a queue filled beforehand, so publishing
//! is not measured. Each drain gets fresh queues, deleted afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cartwright_bench::results::{self, Consumer, Consumers, InboxStatements};
use cartwright_shared::config::Config;
use cartwright_shared::queue::broker::{self, Outgoing, Publisher, SharedConnection};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{self, Context, Handler, HandlerError};
use cartwright_shared::queue::topology::{self, Topology};
use cartwright_shared::queue::work_queues::WorkQueue;
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::{db, prometheus};
use clap::Parser;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sqlx::PgPool;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Prefetch levels, comma-separated; both consumers drain a queue at each.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    prefetch: Vec<u16>,
    /// Also write every rate to `<dir>/runtime.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

struct Noop {
    queue: WorkQueue,
    handled: Arc<AtomicU64>,
}

impl Handler for Noop {
    fn queue(&self) -> WorkQueue {
        self.queue.clone()
    }

    async fn handle(&self, _ctx: &mut Context, _message: &Envelope) -> Result<(), HandlerError> {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What every drain shares.
struct Bench {
    config: Config,
    pool: PgPool,
    topology: Topology,
    connection: lapin::Connection,
    publisher: Publisher,
    metrics: PrometheusHandle,
    messages: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::from_env()?;
    config.broker.prefix = format!("bench-{}", std::process::id());
    // A backstop: each drain deletes its queues, a killed run leaves them to expire.
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
    let bench = Bench {
        config,
        pool,
        topology,
        connection,
        publisher,
        metrics: prometheus::handle(),
        messages: args.messages,
    };

    println!(
        "| consumer | messages | prefetch | messages/s | inbox statements per message | mean statement ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut consumers = Vec::new();
    for &prefetch in &args.prefetch {
        let runtime = bench.runtime(prefetch).await?;
        let bare = bench.bare(prefetch).await?;
        for row in [&runtime, &bare] {
            let (per_message, mean_ms) = row
                .inbox
                .as_ref()
                .map_or(("".to_owned(), "".to_owned()), |i| {
                    (format!("{:.2}", i.per_message), format!("{:.2}", i.mean_ms))
                });
            println!(
                "| {} | {} | {prefetch} | {:.0} | {per_message} | {mean_ms} |",
                row.consumer, row.messages, row.per_second
            );
        }
        println!(
            "|  |  |  | runtime / bare = {:.2} |  |  |",
            runtime.per_second / bare.per_second
        );
        consumers.extend([runtime, bare]);
    }
    topology::delete_queues(&bench.connection, [bench.topology.unrouted()]).await;
    if let Some(dir) = &args.results {
        results::write(dir, "runtime", &Consumers { consumers })?;
    }
    Ok(())
}

impl Bench {
    /// Cartwright's runtime with a no-op handler drains a filled queue.
    async fn runtime(&self, prefetch: u16) -> anyhow::Result<Consumer> {
        // The inbox is keyed by queue name, not prefix: a name of its own keeps earlier
        // runs' rows (live or dead) out of this drain's index range.
        let queue = WorkQueue::new(
            &format!("bench-runtime-{}-{prefetch}", std::process::id()),
            &[],
        );
        self.topology
            .declare_queue(self.publisher.channel(), &queue)
            .await?;
        self.fill(&self.topology.work(&queue.name)).await?;
        let handled = Arc::new(AtomicU64::new(0));
        let (stop, shutdown) = Shutdown::manual();
        let mut config = self.config.broker.clone();
        config.prefetch = prefetch;
        let broker = SharedConnection::new(&config, "bench-runtime");
        let started = Instant::now();
        let runtime = tokio::spawn({
            let handler = Noop {
                queue: queue.clone(),
                handled: handled.clone(),
            };
            let (pool, topology, broker) =
                (self.pool.clone(), self.topology.clone(), broker.clone());
            async move { handler::run(handler, pool, &broker, topology, shutdown).await }
        });
        // Done is the last inbox row committed. Counting the inbox all along would
        // itself load PostgreSQL (a scan of every row so far, 50 times a second: half
        // the box's CPU in a profile), so wait on the handler's own count first: when
        // it reaches the total, at most a prefetch window of records is still to commit.
        while handled.load(Ordering::Relaxed) < self.messages {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        while self.inbox_rows(&queue.name).await? < self.messages {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let per_second = self.messages as f64 / started.elapsed().as_secs_f64();
        let _ = stop.send(true);
        runtime.await?;
        broker.close().await;
        let inbox = self.inbox_statements(&queue.name);
        topology::delete_queues(&self.connection, self.topology.queues_of(&queue.name)).await;
        sqlx::query("DELETE FROM inbox WHERE consumer = $1")
            .bind(&queue.name)
            .execute(&self.pool)
            .await?;
        Ok(Consumer {
            consumer: "Cartwright runtime".into(),
            messages: self.messages,
            prefetch,
            per_second,
            inbox: Some(inbox),
        })
    }

    /// A bare lapin consumer drains a filled queue: consume and ack, nothing else.
    async fn bare(&self, prefetch: u16) -> anyhow::Result<Consumer> {
        let queue = WorkQueue::new(&format!("bench-bare-{prefetch}"), &[]);
        self.topology
            .declare_queue(self.publisher.channel(), &queue)
            .await?;
        self.fill(&self.topology.work(&queue.name)).await?;
        let channel = self.connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                self.topology.work(&queue.name).into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let started = Instant::now();
        for _ in 0..self.messages {
            let delivery = consumer.next().await.context("consumer ended")??;
            delivery.ack(BasicAckOptions::default()).await?;
        }
        let per_second = self.messages as f64 / started.elapsed().as_secs_f64();
        let _ = channel.close(200, "drained".into()).await;
        topology::delete_queues(&self.connection, self.topology.queues_of(&queue.name)).await;
        Ok(Consumer {
            consumer: "bare lapin".into(),
            messages: self.messages,
            prefetch,
            per_second,
            inbox: None,
        })
    }

    async fn fill(&self, queue: &str) -> anyhow::Result<()> {
        let mut pending = Vec::new();
        for _ in 0..self.messages {
            let envelope = Envelope::new("bench.event", "bench", serde_json::json!({}));
            let confirm = self
                .publisher
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

    async fn inbox_rows(&self, consumer: &str) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1")
            .bind(consumer)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Statements and their mean duration, from the inbox's own histograms (count and
    /// sum, look-ups and records together) in the Prometheus rendering.
    fn inbox_statements(&self, consumer: &str) -> InboxStatements {
        let label = format!("consumer=\"{consumer}\"");
        let (mut count, mut seconds) = (0.0, 0.0);
        for line in self.metrics.render().lines() {
            if !line.contains(&label) {
                continue;
            }
            let value = || {
                line.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            if line.starts_with("cartwright_inbox_statement_seconds_count") {
                count += value();
            } else if line.starts_with("cartwright_inbox_statement_seconds_sum") {
                seconds += value();
            }
        }
        InboxStatements {
            per_message: count / self.messages as f64,
            mean_ms: if count > 0.0 {
                seconds / count * 1000.0
            } else {
                0.0
            },
        }
    }
}
