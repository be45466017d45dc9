//! The transactional outbox: a message is written in the same transaction as the change
//! it announces, so it exists if and only if the change committed. The relay publishes.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// The head of an outbox insert, for a statement that writes a change and its message
/// at once (`{INSERT} SELECT …` in a data-modifying CTE); [`enqueue`] is the usual way.
pub const INSERT: &str = "INSERT INTO outbox (message_id, message_type, aggregate_id, payload)";

/// Adds a message to the outbox inside the caller's transaction and returns its id.
pub async fn enqueue<T: Serialize>(
    tx: &mut PgConnection,
    message_type: &str,
    aggregate_id: &str,
    payload: &T,
) -> sqlx::Result<Uuid> {
    let message_id = Uuid::now_v7();
    let payload = serde_json::to_value(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT} VALUES ($1, $2, $3, $4)"
    )))
    .bind(message_id)
    .bind(message_type)
    .bind(aggregate_id)
    .bind(payload)
    .execute(tx)
    .await?;
    Ok(message_id)
}
