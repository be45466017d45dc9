//! The consumer's inbox: (consumer, message id) rows for messages fully processed.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub async fn seen(pool: &PgPool, consumer: &str, message_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2)",
    )
    .bind(consumer)
    .bind(message_id)
    .fetch_one(pool)
    .await
}

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
