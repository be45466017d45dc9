//! The outbox relay: publishes committed outbox rows to the broker with publisher
//! confirms and marks them published. It wakes on NOTIFY (sent at each commit that
//! adds rows) and polls as a fallback, so a lost notification delays, never loses.
//!
//! Safe as several replicas: a batch claims rows `FOR UPDATE SKIP LOCKED` and, per
//! aggregate, a transaction-scoped advisory lock, so no two replicas hold rows of one
//! checkout at once and each checkout's messages go out in the order they were written.
//! A crash after publishing but before marking publishes those rows again: delivery is
//! at-least-once and consumers de-duplicate by message id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::types::FieldTable;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::broker::{self, Outgoing, PublishError, Publisher};
use super::envelope::{Envelope, VERSION};
use super::topology::Topology;
use super::work_queues;
use crate::config::BrokerConfig;
use crate::shutdown::Shutdown;

const BATCH: i64 = 200;

/// How long a batch's publishes and confirms, and closing a connection, may take. The
/// fault drill saw the relay wait forever after RabbitMQ went away mid-batch (no error,
/// no reconnect, the outbox growing); past this the link counts as lost and the batch
/// is published again on a new one (consumers de-duplicate).
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    message_id: Uuid,
    message_type: String,
    aggregate_id: String,
    payload: Value,
    created_at: DateTime<Utc>,
    target_queue: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Publish(#[from] PublishError),
}

pub async fn run(pool: PgPool, config: BrokerConfig, topology: Topology, mut shutdown: Shutdown) {
    loop {
        let Some(connection) = broker::connect(&config, "outbox-relay", &mut shutdown).await else {
            return;
        };
        let publisher = match open(&connection, &topology).await {
            Ok(publisher) => publisher,
            Err(err) => {
                tracing::warn!(error = %err, "relay could not set up its channel");
                continue;
            }
        };
        tracing::info!("outbox relay publishing");
        let lost = serve(
            &pool,
            &publisher,
            &topology,
            config.outbox_poll_interval,
            &mut shutdown,
        )
        .await;
        let _ = tokio::time::timeout(
            BROKER_TIMEOUT,
            connection.close(200, "relay stopping".into()),
        )
        .await;
        match lost {
            None => return,
            Some(err) => tracing::warn!(error = %err, "relay lost the broker; reconnecting"),
        }
    }
}

async fn open(connection: &lapin::Connection, topology: &Topology) -> lapin::Result<Publisher> {
    let publisher = Publisher::open(connection).await?;
    topology.declare_exchanges(publisher.channel()).await?;
    for queue in work_queues::all() {
        topology.declare_queue(publisher.channel(), &queue).await?;
    }
    Ok(publisher)
}

/// Publishes until shutdown (`None`) or until the broker fails (`Some`).
async fn serve(
    pool: &PgPool,
    publisher: &Publisher,
    topology: &Topology,
    poll: Duration,
    shutdown: &mut Shutdown,
) -> Option<PublishError> {
    let mut listener = listen(pool).await;
    loop {
        loop {
            match publish_batch(pool, publisher, topology).await {
                Ok(n) if n < BATCH as usize => break,
                Ok(_) => continue,
                Err(RelayError::Publish(err)) => return Some(err),
                Err(RelayError::Database(err)) => {
                    tracing::warn!(error = %err, "relay cannot read the outbox; will retry");
                    break;
                }
            }
        }
        record_backlog(pool).await;
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let listening = tokio::select! {
            ok = notified => ok,
            () = tokio::time::sleep(poll) => listener.is_some(),
            () = shutdown.requested() => return None,
        };
        // A broken LISTEN connection is replaced; meanwhile the poll keeps things moving.
        if !listening {
            listener = listen(pool).await;
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen("outbox").await.ok()?;
    Some(listener)
}

/// Claims, publishes and marks one batch; returns how many rows it published.
async fn publish_batch(
    pool: &PgPool,
    publisher: &Publisher,
    topology: &Topology,
) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, message_id, message_type, aggregate_id, payload, created_at, target_queue
         FROM outbox
         WHERE published_at IS NULL
           AND pg_try_advisory_xact_lock(hashtextextended('outbox:' || aggregate_id, 0))
         ORDER BY id
         LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }

    tokio::time::timeout(BROKER_TIMEOUT, publish_rows(&rows, publisher, topology))
        .await
        .map_err(|_| PublishError::Unconfirmed(BROKER_TIMEOUT))??;

    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("cartwright_outbox_published_total").increment(rows.len() as u64);
    Ok(rows.len())
}

/// Sends every row, then waits for every confirm: one round trip per batch.
async fn publish_rows(
    rows: &[Row],
    publisher: &Publisher,
    topology: &Topology,
) -> Result<(), PublishError> {
    let mut confirms = Vec::with_capacity(rows.len());
    for row in rows {
        let (exchange, routing_key, body) = wire(row, topology);
        let confirm = publisher
            .send(
                Outgoing {
                    exchange: &exchange,
                    routing_key: &routing_key,
                    message_id: &row.message_id.to_string(),
                    message_type: &row.message_type,
                    correlation_id: &row.aggregate_id,
                    headers: FieldTable::default(),
                    expiration: None,
                },
                &body,
            )
            .await?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        broker::confirmed(confirm).await?;
    }
    Ok(())
}

/// Where a row goes and what it says: an event to the events exchange under its type,
/// or a replayed envelope straight to its work queue.
fn wire(row: &Row, topology: &Topology) -> (String, String, Vec<u8>) {
    match &row.target_queue {
        Some(queue) => (
            String::new(),
            topology.work(queue),
            serde_json::to_vec(&row.payload).unwrap_or_default(),
        ),
        None => {
            let envelope = Envelope {
                v: VERSION,
                id: row.message_id,
                message_type: row.message_type.clone(),
                correlation_id: row.aggregate_id.clone(),
                attempt: 0,
                created_at: row.created_at,
                payload: row.payload.clone(),
            };
            (
                topology.events_exchange(),
                row.message_type.clone(),
                envelope.to_bytes(),
            )
        }
    }
}

async fn record_backlog(pool: &PgPool) {
    let backlog: Result<(i64, Option<f64>), _> = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(created_at))::FLOAT8
         FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await;
    if let Ok((count, oldest)) = backlog {
        metrics::gauge!("cartwright_outbox_backlog").set(count as f64);
        metrics::gauge!("cartwright_outbox_oldest_age_seconds").set(oldest.unwrap_or(0.0));
    }
}
