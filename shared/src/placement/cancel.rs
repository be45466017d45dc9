//! Cancelling an order that has not been bought (`POST /v1/ops/orders/{number}/cancel`).
//!
//! One transaction under the order's row lock, the lock every purchase takes before it
//! commits to buying (`crate::capture_deadline::lock_for_purchase`: a person's claim,
//! the browser worker's final click) and that placing by hand takes too. So a cancel and
//! a purchase are serialized: either the cancel sees the purchase under way and refuses
//! (an attempt at the final click, someone else's live claim), or the purchase finds the
//! order `cancelled` and does not start.
//!
//! Leaving the queues: the manual queue's row is closed as `cancelled` with its lease
//! cleared; a browser job still in RabbitMQ finds the order no longer `placing` and
//! does nothing, and one already at work is withdrawn before the final click (the
//! never-twice gate, `placement_attempts`, requires `placing`). The order's stock holds
//! are released at once; `order.cancelled` tells settlement, which captures the
//! checkout's other orders without it (a cancelled order is terminal and not bought).

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::ops_audit::{self, Target};
use crate::outbox;
use crate::status::{self, Transition, order};
use crate::stock_levels;

/// The event type (docs/events.md).
pub const CANCELLED: &str = "order.cancelled";

/// `order.cancelled`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub checkout_id: String,
    pub order_number: String,
    pub store_id: String,
    pub reason: String,
}

/// Statuses an order can be cancelled from: not bought, not being bought.
pub const CANCELLABLE: [&str; 4] = [
    order::PENDING_PAYMENT,
    order::READY_FOR_PLACEMENT,
    order::AWAITING_MANUAL,
    order::PLACING,
];

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("order {0} does not exist")]
    NoSuchOrder(String),
    #[error(
        "order {number} has been bought at the retailer (it is {status}); refund it instead: POST /v1/ops/orders/{number}/refund"
    )]
    AlreadyBought { number: String, status: String },
    #[error("order {number} is {status}; there is nothing to cancel")]
    Closed { number: String, status: String },
    #[error(
        "order {number} may be being bought right now ({why}); it cannot be cancelled until that ends"
    )]
    BeingBought { number: String, why: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    Now {
        checkout_id: String,
    },
    /// It was already cancelled: nothing changed.
    Before {
        checkout_id: String,
    },
}

/// Cancels `number` as `actor` in a transaction of its own.
pub async fn cancel(
    pool: &PgPool,
    number: &str,
    actor: &str,
    reason: &str,
) -> Result<Cancelled, CancelError> {
    let mut tx = pool.begin().await?;
    let done = cancel_in(&mut tx, number, actor, reason).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`cancel`] in the caller's transaction (a checkout's cancel takes each of its orders
/// in number order).
pub async fn cancel_in(
    tx: &mut PgConnection,
    number: &str,
    actor: &str,
    reason: &str,
) -> Result<Cancelled, CancelError> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT checkout_id, store_id, status FROM orders WHERE number = $1 FOR UPDATE",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((checkout_id, store_id, current)) = row else {
        return Err(CancelError::NoSuchOrder(number.to_owned()));
    };
    if current == order::CANCELLED {
        return Ok(Cancelled::Before { checkout_id });
    }
    if order::BOUGHT.contains(&current.as_str()) {
        return Err(CancelError::AlreadyBought {
            number: number.to_owned(),
            status: current,
        });
    }
    if current == order::NEEDS_VERIFICATION {
        return Err(CancelError::BeingBought {
            number: number.to_owned(),
            why: "an attempt may have bought it; a person must check it at the retailer first"
                .into(),
        });
    }
    if !CANCELLABLE.contains(&current.as_str()) {
        return Err(CancelError::Closed {
            number: number.to_owned(),
            status: current,
        });
    }
    // Under the order's lock, the attempt that reached the final click and the claim
    // that a person took are both committed (they take the same lock first).
    let submitting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM placement_attempts WHERE order_number = $1
                        AND state IN ('submitting', 'placed', 'needs_verification'))",
    )
    .bind(number)
    .fetch_one(&mut *tx)
    .await?;
    if submitting {
        return Err(CancelError::BeingBought {
            number: number.to_owned(),
            why: "the browser worker has submitted it at the retailer".into(),
        });
    }
    let claim: Option<(Option<String>, bool)> = sqlx::query_as(
        "SELECT claimed_by, COALESCE(lease_expires_at > now(), false)
         FROM manual_placements WHERE order_number = $1 FOR UPDATE",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((Some(holder), true)) = &claim
        && holder != actor
    {
        return Err(CancelError::BeingBought {
            number: number.to_owned(),
            why: format!("{holder} has claimed it; they mark it failed, or its lease runs out"),
        });
    }
    super::manual_queue::close_waiting(tx, number, "cancelled", actor, reason).await?;
    sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE number = $1")
        .bind(number)
        .bind(order::CANCELLED)
        .execute(&mut *tx)
        .await?;
    status::record(
        tx,
        Transition {
            checkout_id: &checkout_id,
            order_number: Some(number),
            from: Some(&current),
            to: order::CANCELLED,
            actor,
            reason: Some(reason),
        },
    )
    .await?;
    let released = release_holds(tx, number).await?;
    ops_audit::record(
        tx,
        actor,
        "order.cancel",
        Target::Order(number),
        json!({ "reason": reason, "from": current, "released": released }),
    )
    .await?;
    outbox::enqueue(
        tx,
        CANCELLED,
        &checkout_id,
        &OrderCancelled {
            checkout_id: checkout_id.clone(),
            order_number: number.to_owned(),
            store_id,
            reason: reason.to_owned(),
        },
    )
    .await?;
    Ok(Cancelled::Now { checkout_id })
}

/// Releases the order's stock holds (SKU order, as every writer of several SKUs locks
/// them) and resolves the low-stock alerts that leaves above threshold; the units
/// released per SKU.
async fn release_holds(
    tx: &mut PgConnection,
    number: &str,
) -> sqlx::Result<Vec<serde_json::Value>> {
    let held: Vec<(String, i64)> = sqlx::query_as(
        "WITH released AS (
             UPDATE reservations SET status = 'released', settled_at = now()
             WHERE id IN (SELECT id FROM reservations WHERE order_number = $1 AND status = 'held'
                          ORDER BY sku, id FOR UPDATE)
             RETURNING sku, quantity)
         SELECT sku, sum(quantity)::BIGINT FROM released GROUP BY sku ORDER BY sku",
    )
    .bind(number)
    .fetch_all(&mut *tx)
    .await?;
    for (sku, units) in &held {
        sqlx::query("UPDATE skus SET reserved = reserved - $2, updated_at = now() WHERE sku = $1")
            .bind(sku)
            .bind(units)
            .execute(&mut *tx)
            .await?;
    }
    if !held.is_empty() {
        let skus: Vec<String> = held.iter().map(|(sku, _)| sku.clone()).collect();
        stock_levels::check(tx, &skus).await?;
    }
    Ok(held
        .into_iter()
        .map(|(sku, units)| json!({ "sku": sku, "quantity": units }))
        .collect())
}
