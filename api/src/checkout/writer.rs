//! Intake writers: checkouts that arrive together are written together (issue 15),
//! through a [`Batcher`]: a few writer tasks, each writing every checkout waiting (up to
//! [`MAX_BATCH`]) in one call of `submit_checkouts` (migration 0023), one transaction.
//! Each checkout's outcome is still its own; only a failure of the whole transaction
//! (the database gone) fails every checkout of the batch, none of them written.

use std::sync::Arc;

use anyhow::anyhow;
use cartwright_shared::batch::{BatchError, Batcher};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::ApiError;

/// At most this many checkouts in one transaction: enough that a flash sale's crowd is a
/// few batches, few enough that one batch holds its SKU rows only for milliseconds.
pub const MAX_BATCH: usize = 64;

/// What `submit_checkouts` decided for one checkout.
#[derive(Debug)]
pub enum Outcome {
    Accepted,
    /// The key was used before with this body: the stored answer.
    Replayed {
        status: u16,
        body: Value,
    },
    KeyInUse,
    KeyReused,
    InsufficientStock {
        index: usize,
        sku: String,
        available: i64,
    },
    /// The catalog moved since the cart was priced: price it again.
    CatalogChanged,
}

/// The fixed part of every call: what the audit rows and messages say.
pub struct Labels {
    pub hold_secs: f64,
    pub reason: &'static str,
    pub submitted_type: &'static str,
    pub stock_low_type: &'static str,
    pub answer_status: i16,
}

/// A failed transaction, told to each checkout of its batch.
#[derive(Clone, Debug)]
enum Failed {
    Unavailable,
    Internal(String),
}

#[derive(Clone)]
pub struct IntakeWriters {
    batcher: Batcher<Value, Outcome, Failed>,
}

impl IntakeWriters {
    /// Starts `writers` tasks on `pool`; they end when every handle is dropped.
    pub fn start(pool: PgPool, writers: usize, labels: Labels) -> Self {
        let labels = Arc::new(labels);
        let batcher = Batcher::start(writers, MAX_BATCH, move |entries: Vec<Value>| {
            let (pool, labels) = (pool.clone(), labels.clone());
            async move {
                let count = entries.len();
                write_batch(&pool, entries, &labels).await.map_err(|err| match err {
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                        tracing::warn!(error = %err, checkouts = count, "database unavailable for an intake batch");
                        Failed::Unavailable
                    }
                    other => Failed::Internal(format!("intake batch: {other}")),
                })
            }
        });
        Self { batcher }
    }

    /// Writes one checkout (an element of `submit_checkouts`' batch) with whichever
    /// others are waiting, and answers its own outcome.
    pub async fn write(&self, entry: Value) -> Result<Outcome, ApiError> {
        match self.batcher.run(entry).await {
            Ok(outcome) => Ok(outcome),
            Err(BatchError::Failed(Failed::Unavailable)) => Err(ApiError::Unavailable),
            Err(BatchError::Failed(Failed::Internal(message))) => {
                Err(ApiError::Internal(anyhow!(message)))
            }
            Err(BatchError::Stopped) => Err(ApiError::Internal(anyhow!(
                "the intake writers have stopped"
            ))),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    n: i32,
    outcome: String,
    detail: Option<Value>,
}

/// One outcome per entry, in the entries' order.
async fn write_batch(
    pool: &PgPool,
    entries: Vec<Value>,
    labels: &Labels,
) -> sqlx::Result<Vec<Outcome>> {
    let count = entries.len();
    let mut rows: Vec<Row> =
        sqlx::query_as("SELECT n, outcome, detail FROM submit_checkouts($1, $2, $3, $4, $5, $6)")
            .bind(Value::Array(entries))
            .bind(labels.hold_secs)
            .bind(labels.reason)
            .bind(labels.submitted_type)
            .bind(labels.stock_low_type)
            .bind(labels.answer_status)
            .fetch_all(pool)
            .await?;
    rows.sort_by_key(|row| row.n);
    let numbered = rows
        .iter()
        .enumerate()
        .all(|(i, row)| row.n as usize == i + 1);
    if rows.len() != count || !numbered {
        return Err(sqlx::Error::Protocol(format!(
            "submit_checkouts answered {} rows for {count} checkouts",
            rows.len()
        )));
    }
    rows.into_iter()
        .map(|row| outcome(&row.outcome, row.detail).map_err(|e| sqlx::Error::Decode(e.into())))
        .collect()
}

fn outcome(name: &str, detail: Option<Value>) -> anyhow::Result<Outcome> {
    #[derive(Deserialize)]
    struct Stored {
        status: i16,
        body: Value,
    }
    #[derive(Deserialize)]
    struct Short {
        index: usize,
        sku: String,
        available: i64,
    }
    let detail = || {
        detail
            .clone()
            .ok_or_else(|| anyhow!("{name} without its detail"))
    };
    Ok(match name {
        "accepted" => Outcome::Accepted,
        "replayed" => {
            let stored: Stored = serde_json::from_value(detail()?)?;
            Outcome::Replayed {
                status: u16::try_from(stored.status).unwrap_or(202),
                body: stored.body,
            }
        }
        "idempotency_key_in_use" => Outcome::KeyInUse,
        "idempotency_key_reused" => Outcome::KeyReused,
        "insufficient_stock" => {
            let short: Short = serde_json::from_value(detail()?)?;
            Outcome::InsufficientStock {
                index: short.index,
                sku: short.sku,
                available: short.available,
            }
        }
        "catalog_changed" => Outcome::CatalogChanged,
        other => anyhow::bail!("unknown intake outcome {other:?}"),
    })
}
