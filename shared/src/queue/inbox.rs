//! The consumer's inbox: (consumer, message id) rows for messages fully processed.
//!
//! A handler that writes records its message inside its own transaction ([`record`]).
//! The runtime's own look-ups, and the records of handlers that wrote nothing, go
//! through [`Inbox`], which groups the requests of all deliveries in flight into one
//! statement each ([`crate::batch`]): under load one round trip and one commit serve a whole prefetch
//! window instead of one message (BENCHMARKS.md, consumer runtime).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::batch::{BatchError, Batcher};

/// `false` when another delivery of the same message got there first.
pub async fn record(tx: &mut PgConnection, consumer: &str, message_id: Uuid) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(message_id)
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The most requests one statement answers; more wait for the next statement.
const MOST_PER_STATEMENT: usize = 512;

/// Statements of one kind running at once.
const STATEMENTS_AT_ONCE: usize = 4;

/// A grouped inbox statement failed; every request in its group gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("inbox: {0}")]
pub struct InboxError(Arc<sqlx::Error>);

/// One consumer's inbox look-ups and autocommitted records, grouped.
pub struct Inbox {
    seen: Batcher<Uuid, bool, InboxError>,
    record: Batcher<Uuid, (), InboxError>,
}

impl Inbox {
    /// Starts the grouping tasks; they end when the `Inbox` is dropped.
    pub fn start(pool: PgPool, consumer: &str) -> Self {
        let consumer: Arc<str> = consumer.into();
        let seen = grouped(Statement::new(&consumer, "seen"), {
            let (pool, consumer) = (pool.clone(), consumer.clone());
            move |ids| seen_among(pool.clone(), consumer.clone(), ids)
        });
        let record = grouped(Statement::new(&consumer, "record"), {
            let consumer = consumer.clone();
            move |ids| record_all(pool.clone(), consumer.clone(), ids)
        });
        Self { seen, record }
    }

    /// Whether this consumer has already processed the message.
    pub async fn seen(&self, message_id: Uuid) -> Result<bool, InboxError> {
        ask(&self.seen, message_id).await
    }

    /// Records the message as processed, committed when this returns `Ok`.
    pub async fn record(&self, message_id: Uuid) -> Result<(), InboxError> {
        ask(&self.record, message_id).await
    }
}

async fn seen_among(pool: PgPool, consumer: Arc<str>, ids: Vec<Uuid>) -> sqlx::Result<Vec<bool>> {
    let found: HashSet<Uuid> = sqlx::query_scalar(
        "SELECT message_id FROM inbox WHERE consumer = $1 AND message_id = ANY($2)",
    )
    .bind(&*consumer)
    .bind(&ids)
    .fetch_all(&pool)
    .await?
    .into_iter()
    .collect();
    Ok(ids.iter().map(|id| found.contains(id)).collect())
}

async fn record_all(pool: PgPool, consumer: Arc<str>, ids: Vec<Uuid>) -> sqlx::Result<Vec<()>> {
    sqlx::query(
        "INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::uuid[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&*consumer)
    .bind(&ids)
    .execute(&pool)
    .await?;
    Ok(vec![(); ids.len()])
}

/// One kind of grouped statement, as the metrics name it: how many requests each
/// statement answered (`cartwright_inbox_group_size`) and how long it took
/// (`cartwright_inbox_statement_seconds`). Small groups at a steady load mean the
/// statements return faster than deliveries arrive; long statements, a busy database.
#[derive(Clone)]
struct Statement {
    group_size: metrics::Histogram,
    seconds: metrics::Histogram,
}

impl Statement {
    fn new(consumer: &str, kind: &'static str) -> Self {
        let labels = [("consumer", consumer.to_owned()), ("kind", kind.to_owned())];
        Self {
            group_size: metrics::histogram!("cartwright_inbox_group_size", &labels),
            seconds: metrics::histogram!("cartwright_inbox_statement_seconds", &labels),
        }
    }
}

/// Requests queue up while a statement runs; the next statement takes all of them.
fn grouped<T, F, Fut>(statement: Statement, run: F) -> Batcher<Uuid, T, InboxError>
where
    T: Send + 'static,
    F: Fn(Vec<Uuid>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = sqlx::Result<Vec<T>>> + Send + 'static,
{
    let run = Arc::new(run);
    Batcher::start(
        STATEMENTS_AT_ONCE,
        MOST_PER_STATEMENT,
        move |ids: Vec<Uuid>| {
            let (run, statement) = (run.clone(), statement.clone());
            async move {
                statement.group_size.record(ids.len() as f64);
                let started = Instant::now();
                let result = run(ids).await;
                statement.seconds.record(started.elapsed());
                result.map_err(|err| InboxError(Arc::new(err)))
            }
        },
    )
}

async fn ask<T: Send + 'static>(
    grouped: &Batcher<Uuid, T, InboxError>,
    id: Uuid,
) -> Result<T, InboxError> {
    grouped.run(id).await.map_err(|err| match err {
        BatchError::Failed(err) => err,
        BatchError::Stopped => InboxError(Arc::new(sqlx::Error::PoolClosed)),
    })
}
