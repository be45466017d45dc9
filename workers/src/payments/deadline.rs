//! The capture-deadline guard: an authorization lapses at Stripe (about a week for
//! cards), and an uncaptured one pays nothing. Shortly before that, capture what has
//! been placed, fail the orders still waiting, and tell ops.

use cartwright_shared::status::order as os;
use serde_json::json;
use sqlx::PgPool;

use super::ACTOR;
use super::checkout;
use super::settle;
use super::stripe::Stripe;

/// Act this long before the authorization expires.
const MARGIN: &str = "12 hours";
/// Checkouts handled per pass.
const BATCH: i64 = 50;
/// Orders not yet terminal for settlement.
const WAITING: &[&str] = &[
    os::PENDING_PAYMENT,
    os::READY_FOR_PLACEMENT,
    os::AWAITING_MANUAL,
    os::PLACING,
    os::NEEDS_VERIFICATION,
];
const REASON: &str = "capture deadline reached before the order was placed";

/// One pass; returns how many checkouts it settled. Safe with several replicas: each
/// claims its checkouts with SKIP LOCKED, and settling is idempotent.
pub async fn run_once(pool: &PgPool, stripe: &Stripe) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM checkouts
         WHERE status = 'authorized' AND capture_before < now() + $1::interval
         ORDER BY capture_before LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(MARGIN)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for checkout_id in &due {
        let failed = checkout::move_orders(
            &mut tx,
            checkout_id,
            WAITING,
            os::FAILED,
            ACTOR,
            Some(REASON),
        )
        .await?;
        if !failed.is_empty() {
            let numbers: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
            tracing::warn!(checkout_id, orders = ?numbers, "capture deadline: failing orders not yet placed");
            sqlx::query(
                "INSERT INTO ops_audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)",
            )
            .bind(ACTOR)
            .bind("payments.capture_deadline")
            .bind(checkout_id)
            .bind(json!({ "failed_orders": numbers, "reason": REASON }))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    let mut settled = 0;
    for checkout_id in &due {
        match settle::settle_now(pool, stripe, checkout_id).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::error!(checkout_id, error = %err, "capture deadline: settlement failed")
            }
        }
    }
    Ok(settled)
}
