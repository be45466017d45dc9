//! A checkout as the payment worker sees it, read with its row locked so concurrent jobs
//! on one checkout (order events, webhooks, the deadline guard) take turns.

use cartwright_shared::status::{self, Transition};
use sqlx::PgConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Checkout {
    pub id: String,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub payment_method: String,
    pub payment_intent_id: Option<String>,
}

const COLUMNS: &str = "id, status, currency, total, payment_method, payment_intent_id";

/// Reads the checkout and locks its row until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<Checkout>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM checkouts WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn read(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<Checkout>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM checkouts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn by_payment_intent(
    conn: &mut PgConnection,
    payment_intent: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM checkouts WHERE payment_intent_id = $1")
        .bind(payment_intent)
        .fetch_optional(conn)
        .await
}

/// Moves the checkout to `to` and writes the audit row.
pub async fn set_status(
    conn: &mut PgConnection,
    checkout: &Checkout,
    to: &str,
    actor: &str,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE checkouts SET status = $2, updated_at = now() WHERE id = $1")
        .bind(&checkout.id)
        .bind(to)
        .execute(&mut *conn)
        .await?;
    status::record(
        conn,
        Transition {
            checkout_id: &checkout.id,
            order_number: None,
            from: Some(&checkout.status),
            to,
            actor,
            reason,
        },
    )
    .await
}

/// Moves every order of the checkout that is in one of `from` to `to`, with audit rows;
/// returns the (number, store) of each order moved.
pub async fn move_orders(
    conn: &mut PgConnection,
    checkout_id: &str,
    from: &[&str],
    to: &str,
    actor: &str,
    reason: Option<&str>,
) -> sqlx::Result<Vec<(String, String)>> {
    let moved: Vec<(String, String, String)> = sqlx::query_as(
        "UPDATE orders o SET status = $3, updated_at = now()
         FROM orders old
         WHERE o.number = old.number AND o.checkout_id = $1 AND old.status = ANY($2)
         RETURNING o.number, o.store_id, old.status",
    )
    .bind(checkout_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(moved.len());
    for (number, store, old) in moved {
        status::record(
            conn,
            Transition {
                checkout_id,
                order_number: Some(&number),
                from: Some(&old),
                to,
                actor,
                reason,
            },
        )
        .await?;
        out.push((number, store));
    }
    Ok(out)
}
