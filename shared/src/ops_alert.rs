//! Alerts about one thing that needs a person now: a checkout whose settlement cannot
//! finish, an order that may have been bought after its payment was settled. Raising
//! one writes an `ops_audit` row (action `alert.<kind>`) and an `ops.alert` event in the
//! caller's transaction; the alert worker emails `OPS_ALERT_EMAILS` and calls the alert
//! webhook, as it does for low stock.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::outbox;

/// The event type.
pub const EVENT: &str = "ops.alert";

/// `ops.alert`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsAlert {
    /// What happened, e.g. `settlement_stuck`.
    pub kind: String,
    /// What it is about, e.g. `checkout:<id>`.
    pub target: String,
    /// What ops should know and do, in plain words.
    pub message: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Writes the audit row and the event; `checkout_id` orders the event with the
/// checkout's others.
pub async fn raise(
    conn: &mut PgConnection,
    actor: &str,
    checkout_id: &str,
    alert: &OpsAlert,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO ops_audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)")
        .bind(actor)
        .bind(format!("alert.{}", alert.kind))
        .bind(&alert.target)
        .bind(serde_json::json!({ "message": alert.message, "detail": alert.detail }))
        .execute(&mut *conn)
        .await?;
    outbox::enqueue(conn, EVENT, checkout_id, alert).await?;
    Ok(())
}

/// Has an alert of `kind` about `target` been raised before? (A scan of `ops_audit`:
/// asked only on the rare paths that raise one.)
pub async fn raised_before(
    conn: &mut PgConnection,
    kind: &str,
    target: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ops_audit WHERE action = $1 AND target = $2)")
        .bind(format!("alert.{kind}"))
        .bind(target)
        .fetch_one(conn)
        .await
}
