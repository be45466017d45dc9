//! The outbox relay: publishes committed outbox rows to the broker with publisher
//! confirms and marks them published. Idle, it wakes on NOTIFY (sent by a commit that
//! adds rows while a relay waits, see [`LISTENING`]); busy, it publishes batch after
//! batch; it also polls as a fallback, so a lost notification delays, never loses.
//!
//! Safe as several replicas: a batch claims rows `FOR UPDATE SKIP LOCKED` and, per
//! aggregate, a transaction-scoped advisory lock, so no two replicas hold rows of one
//! checkout at once and each checkout's messages go out in the order they were written.
//! A crash after publishing but before marking publishes those rows again: delivery is
//! at-least-once and consumers de-duplicate by message id.

use std::time::{Duration, Instant};

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

/// How often the backlog gauges are read: a count over the unpublished rows after every
/// batch was a statement per checkout under load.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

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
///
/// Busy, it publishes batch after batch while they come back full. Before it waits, it
/// takes the listening lock ([`LISTENING`]) and publishes once more: from then on every
/// commit that adds rows notifies, and what committed before is in that last batch.
/// Woken, it lets the lock go, so the commits of a busy system do not notify at all.
async fn serve(
    pool: &PgPool,
    publisher: &Publisher,
    topology: &Topology,
    poll: Duration,
    shutdown: &mut Shutdown,
) -> Option<PublishError> {
    let mut listener = listen(pool).await;
    let mut backlog_recorded: Option<Instant> = None;
    loop {
        let published = match publish_until_short(pool, publisher, topology).await {
            Ok(n) => n,
            Err(err) => return Some(err),
        };
        if backlog_recorded.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
            record_backlog(pool).await;
            backlog_recorded = Some(Instant::now());
        }
        if shutdown.is_requested() {
            return None;
        }
        if published > 0 {
            // Rows came while it published: more are likely, go on without the lock.
            continue;
        }
        let mut locked = false;
        if let Some(l) = listener.as_mut() {
            locked = take_listening_lock(l).await;
            if locked {
                match publish_until_short(pool, publisher, topology).await {
                    Ok(0) => {}
                    Ok(_) => {
                        release_listening_lock(l).await;
                        continue;
                    }
                    Err(err) => return Some(err),
                }
            }
        }
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
        // A broken LISTEN connection is replaced (its lock went with it); meanwhile the
        // poll keeps things moving.
        if !listening {
            listener = listen(pool).await;
        } else if let Some(l) = listener.as_mut() {
            if locked {
                release_listening_lock(l).await;
            }
            // Notifications that came together are answered by one batch.
            while l.next_buffered().is_some() {}
        }
    }
}

/// Publishes batches until one comes back short; how many rows in all. A database
/// error ends the round (logged; the next round tries again), a broker error the link.
async fn publish_until_short(
    pool: &PgPool,
    publisher: &Publisher,
    topology: &Topology,
) -> Result<usize, PublishError> {
    let mut total = 0;
    loop {
        match publish_batch(pool, publisher, topology).await {
            Ok(n) => {
                total += n;
                if n < BATCH as usize {
                    return Ok(total);
                }
            }
            Err(RelayError::Publish(err)) => return Err(err),
            Err(RelayError::Database(err)) => {
                tracing::warn!(error = %err, "relay cannot read the outbox; will retry");
                return Ok(total);
            }
        }
    }
}

/// The advisory lock (two-key form, its own key space) that says "a relay is waiting
/// for a notification". Every statement that adds outbox rows asks for it shared
/// (`outbox_notify`, migration 0013): granted, nobody waits and it does not notify;
/// refused, it notifies. A NOTIFY serializes commits cluster-wide (PostgreSQL holds a
/// global lock from the notify until the commit is flushed): notifying every commit
/// held two-insert transactions to about a third of their rate (issue 15).
const LISTENING: (i32, i32) = (0x4357_5254, 1);

/// Waits for writers that saw no relay waiting to finish, then holds the lock; false
/// when it could not in time (a long transaction) or the connection failed: the relay
/// then waits for its poll.
async fn take_listening_lock(listener: &mut PgListener) -> bool {
    let taken = sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LISTENING.0)
        .bind(LISTENING.1)
        .execute(&mut *listener)
        .await;
    taken.is_ok()
}

async fn release_listening_lock(listener: &mut PgListener) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(LISTENING.0)
        .bind(LISTENING.1)
        .execute(&mut *listener)
        .await;
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen("outbox").await.ok()?;
    // Taking the listening lock waits for open transactions that add rows; one left
    // open (an interactive session) must not stop the relay, which then polls.
    sqlx::query("SET lock_timeout = '1s'")
        .execute(&mut listener)
        .await
        .ok()?;
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
