//! Forgetting what is no longer needed: published outbox rows, inbox rows, and stored
//! idempotent answers, each after its own period. Deletes go in batches so no run
//! holds locks for long, and several replicas may run it at once.

use std::time::Duration;

use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct Retention {
    /// Published outbox rows: kept for tracing what was sent.
    pub outbox: Duration,
    /// Inbox rows: far longer than any redelivery can arrive (the longest retry
    /// schedule is under two hours), so de-duplication never forgets too early.
    pub inbox: Duration,
    /// Stored answers to POSTs: a key older than this starts a new request, as with
    /// Stripe's 24 hours.
    pub idempotency_keys: Duration,
}

const BATCH: i64 = 5000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub outbox: u64,
    pub inbox: u64,
    pub idempotency_keys: u64,
}

pub async fn purge(pool: &PgPool, retention: &Retention) -> sqlx::Result<Purged> {
    Ok(Purged {
        outbox: in_batches(
            pool,
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
                WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)",
            retention.outbox,
        )
        .await?,
        inbox: in_batches(
            pool,
            "DELETE FROM inbox WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM inbox
                WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2)",
            retention.inbox,
        )
        .await?,
        idempotency_keys: in_batches(
            pool,
            "DELETE FROM idempotency_keys WHERE (principal, key) IN (SELECT principal, key FROM idempotency_keys
                WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)",
            retention.idempotency_keys,
        )
        .await?,
    })
}

async fn in_batches(pool: &PgPool, sql: &'static str, older_than: Duration) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(sql)
            .bind(older_than.as_secs_f64())
            .bind(BATCH)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
