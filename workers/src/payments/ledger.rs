//! The payment ledger: one row per Stripe call that moved money or tried to. A key's
//! succeeded effect is written once (a unique index), however often its job ran.

use sqlx::PgConnection;

pub struct Entry<'a> {
    pub checkout_id: &'a str,
    pub order_number: Option<&'a str>,
    pub kind: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub stripe_id: Option<&'a str>,
    /// `None` when it succeeded, else what went wrong.
    pub error: Option<&'a str>,
    pub idempotency_key: &'a str,
}

/// The ledger's insert, for a statement that writes a row along with other changes: its
/// values follow, then [`ON_CONFLICT`].
pub const INSERT: &str = "INSERT INTO payment_transactions
     (checkout_id, order_number, kind, amount, currency, stripe_id, status, error, idempotency_key)";

/// A key's succeeded effect is written once.
pub const ON_CONFLICT: &str = "ON CONFLICT (idempotency_key) WHERE status = 'succeeded' DO NOTHING";

pub async fn record(conn: &mut PgConnection, e: Entry<'_>) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) {ON_CONFLICT}"
    )))
    .bind(e.checkout_id)
    .bind(e.order_number)
    .bind(e.kind)
    .bind(e.amount)
    .bind(e.currency)
    .bind(e.stripe_id)
    .bind(if e.error.is_none() {
        "succeeded"
    } else {
        "failed"
    })
    .bind(e.error)
    .bind(e.idempotency_key)
    .execute(conn)
    .await?;
    Ok(())
}
