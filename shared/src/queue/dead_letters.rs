//! Dead letters: the archiver moves what reaches each `<queue>.dead` into the
//! `dead_letters` table, where ops list them with stable ids, replay them (through the
//! outbox, in the same transaction as marking them replayed, so a replay cannot happen
//! twice) or discard them (with an audit row).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::message::Delivery;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::broker::{Publisher, SharedConnection, read_header};
use super::consume::{self, Process, Settle, Spec};
use super::envelope::Envelope;
use super::topology::Topology;
use super::work_queues::WorkQueue;
use crate::shutdown::Shutdown;

/// Archives every work queue's dead letters until shutdown.
pub async fn archive(
    pool: PgPool,
    broker: SharedConnection,
    topology: Topology,
    queues: Vec<WorkQueue>,
    shutdown: Shutdown,
) {
    let consumers = queues.into_iter().map(|queue| {
        let spec = Spec {
            queue: topology.dead(&queue.name),
            prefetch: 16,
        };
        let archiver = Arc::new(Archiver {
            pool: pool.clone(),
            topology: topology.clone(),
            queue,
        });
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        async move { consume::run(&broker, spec, archiver, shutdown).await }
    });
    futures::future::join_all(consumers).await;
}

struct Archiver {
    pool: PgPool,
    topology: Topology,
    queue: WorkQueue,
}

impl Process for Archiver {
    async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        self.topology.declare_exchanges(channel).await?;
        self.topology.declare_queue(channel, &self.queue).await
    }

    async fn process(&self, delivery: &Delivery, _publisher: Publisher) -> Settle {
        match self.store(delivery).await {
            Ok(()) => Settle::Ack,
            Err(err) => {
                tracing::warn!(error = %err, queue = %self.queue.name, "cannot archive a dead letter yet");
                // The database is away: leave it in the broker and come back later.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Settle::Requeue
            }
        }
    }
}

impl Archiver {
    async fn store(&self, delivery: &Delivery) -> sqlx::Result<()> {
        let headers = delivery.properties.headers().as_ref();
        let header_json: Map<String, Value> = headers
            .map(|h| {
                h.inner()
                    .keys()
                    .filter_map(|k| {
                        read_header(headers, k.as_str()).map(|v| (k.as_str().to_owned(), json!(v)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let envelope = Envelope::parse(&delivery.data).ok();
        let property = |p: &Option<lapin::types::ShortString>| {
            p.as_ref()
                .map(|s| s.as_str().to_owned())
                .filter(|s| !s.is_empty())
        };
        let message_id = envelope
            .as_ref()
            .map(|e| e.id)
            .or_else(|| property(delivery.properties.message_id()).and_then(|s| s.parse().ok()));
        let message_type = envelope
            .as_ref()
            .map(|e| e.message_type.clone())
            .or_else(|| property(delivery.properties.kind()));
        let correlation_id = envelope
            .as_ref()
            .map(|e| e.correlation_id.clone())
            .or_else(|| property(delivery.properties.correlation_id()));
        // No error header means the broker dead-lettered it (over the delivery limit).
        let error = read_header(headers, "x-last-error").unwrap_or_else(|| {
            "redelivered more often than the queue's delivery limit allows: a worker \
             crashed or timed out on it repeatedly"
                .to_owned()
        });
        let attempts: i32 = read_header(headers, "x-attempts")
            .or_else(|| read_header(headers, "x-delivery-count"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let time = |key| {
            read_header(headers, key)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let headers = Value::Object(header_json);
        let mut fingerprint = Sha256::new();
        fingerprint.update(self.queue.name.as_bytes());
        fingerprint.update(&delivery.data);
        fingerprint.update(headers.to_string().as_bytes());

        sqlx::query(
            "INSERT INTO dead_letters (queue, message_id, message_type, correlation_id, body, headers,
                                       error, attempts, first_failed_at, last_failed_at, fingerprint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, now()), COALESCE($10, now()), $11)
             ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(&self.queue.name)
        .bind(message_id)
        .bind(message_type)
        .bind(correlation_id)
        .bind(&delivery.data)
        .bind(&headers)
        .bind(&error)
        .bind(attempts)
        .bind(time("x-first-failure"))
        .bind(time("x-last-failure"))
        .bind(fingerprint.finalize().to_vec())
        .execute(&self.pool)
        .await?;
        metrics::counter!("cartwright_dead_letters_archived_total", "queue" => self.queue.name.clone()).increment(1);
        Ok(())
    }
}

/// A dead letter as ops see it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub queue: String,
    pub message_id: Option<Uuid>,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub correlation_id: Option<String>,
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub status: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// The body as JSON when it is JSON, else as text.
    #[sqlx(skip)]
    pub body: Value,
    #[serde(skip)]
    #[sqlx(rename = "body")]
    pub raw_body: Vec<u8>,
    pub headers: Value,
}

const COLUMNS: &str =
    "id, queue, message_id, message_type, correlation_id, error, attempts, first_failed_at,
    last_failed_at, status, resolved_at, resolved_by, body, headers";

pub struct Filter<'a> {
    pub queue: Option<&'a str>,
    pub status: &'a str,
    /// Only ids below this (pagination: pass the last id of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, filter: Filter<'_>) -> sqlx::Result<Vec<DeadLetter>> {
    let mut rows: Vec<DeadLetter> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dead_letters
         WHERE ($1::TEXT IS NULL OR queue = $1) AND status = $2 AND ($3::BIGINT IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4"
    )))
    .bind(filter.queue)
    .bind(filter.status)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(pool)
    .await?;
    for row in &mut rows {
        row.body = serde_json::from_slice(&row.raw_body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&row.raw_body).into_owned()));
    }
    Ok(rows)
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no dead letter {0}")]
    NotFound(i64),
    #[error("dead letter {id} is already {status}")]
    AlreadyResolved { id: i64, status: String },
    #[error("dead letter {0} is not a valid message envelope and cannot be replayed; discard it")]
    NotReplayable(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Replays one dead letter: back to its work queue with a fresh attempt count.
pub async fn replay(pool: &PgPool, id: i64, actor: &str) -> Result<(), ResolveError> {
    let mut tx = pool.begin().await?;
    replay_in(&mut tx, id, actor).await?;
    tx.commit().await?;
    Ok(())
}

/// Replays every unresolved dead letter of a queue; returns how many. Bodies that are
/// not envelopes stay dead (they would only fail again).
pub async fn replay_queue(pool: &PgPool, queue: &str, actor: &str) -> Result<u64, ResolveError> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM dead_letters WHERE queue = $1 AND status = 'dead' ORDER BY id FOR UPDATE",
    )
    .bind(queue)
    .fetch_all(&mut *tx)
    .await?;
    let mut replayed = 0;
    for id in ids {
        match replay_in(&mut tx, id, actor).await {
            Ok(()) => replayed += 1,
            Err(ResolveError::NotReplayable(_)) => {}
            Err(other) => return Err(other),
        }
    }
    tx.commit().await?;
    Ok(replayed)
}

async fn replay_in(tx: &mut sqlx::PgConnection, id: i64, actor: &str) -> Result<(), ResolveError> {
    let (queue, body) = claim(tx, id).await?;
    let mut envelope = Envelope::parse(&body).map_err(|_| ResolveError::NotReplayable(id))?;
    envelope.attempt = 0;
    sqlx::query(
        "INSERT INTO outbox (message_id, message_type, aggregate_id, payload, target_queue)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(envelope.id)
    .bind(&envelope.message_type)
    .bind(&envelope.correlation_id)
    .bind(serde_json::to_value(&envelope).unwrap_or_default())
    .bind(&queue)
    .execute(&mut *tx)
    .await?;
    resolve(tx, id, "replayed", actor).await
}

/// Discards one dead letter, recording who did it.
pub async fn discard(pool: &PgPool, id: i64, actor: &str) -> Result<(), ResolveError> {
    let mut tx = pool.begin().await?;
    claim(&mut tx, id).await?;
    resolve(&mut tx, id, "discarded", actor).await?;
    tx.commit().await?;
    Ok(())
}

/// Locks an unresolved dead letter; returns its queue and body.
async fn claim(tx: &mut sqlx::PgConnection, id: i64) -> Result<(String, Vec<u8>), ResolveError> {
    let row: Option<(String, Vec<u8>, String)> =
        sqlx::query_as("SELECT queue, body, status FROM dead_letters WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match row {
        None => Err(ResolveError::NotFound(id)),
        Some((_, _, status)) if status != "dead" => {
            Err(ResolveError::AlreadyResolved { id, status })
        }
        Some((queue, body, _)) => Ok((queue, body)),
    }
}

async fn resolve(
    tx: &mut sqlx::PgConnection,
    id: i64,
    status: &str,
    actor: &str,
) -> Result<(), ResolveError> {
    sqlx::query(
        "UPDATE dead_letters SET status = $2, resolved_at = now(), resolved_by = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let action = if status == "replayed" {
        "dead_letter.replay"
    } else {
        "dead_letter.discard"
    };
    sqlx::query("INSERT INTO ops_audit (actor, action, target) VALUES ($1, $2, $3)")
        .bind(actor)
        .bind(action)
        .bind(format!("dead_letter:{id}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}
