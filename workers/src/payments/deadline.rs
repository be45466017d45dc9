//! The capture-deadline guard. An authorization lapses at Stripe about a week after it
//! was made, and an uncaptured one pays nothing; `cartwright_shared::capture_deadline`
//! states the rule that no order is bought once its authorization cannot pay for it.
//!
//! Within `MARGIN` of `capture_before` the guard fails the orders that are neither
//! bought nor being bought (closing their manual-queue rows and announcing
//! `order.failed`), waits for the ones under way, and settles once nothing is left
//! waiting. Within `FINAL_MARGIN` it waits no longer: the orders it cannot be sure of
//! become `needs_verification` for ops, with an alert, and what is placed is captured.
//! A settlement that fails here raises an ops alert, once per checkout.

use cartwright_shared::capture_deadline::{FINAL_MARGIN, MARGIN};
use cartwright_shared::ops_alert::{self, OpsAlert};
use cartwright_shared::ops_audit::{self, Target};
use cartwright_shared::outbox;
use cartwright_shared::placement::{Failed, events, manual_queue};
use cartwright_shared::status::{self, Transition, order as os};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::ACTOR;
use super::settle::{self, Unverified};
use super::stripe::Stripe;

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
const UNVERIFIED_REASON: &str =
    "capture deadline reached while the order was being bought; verify it at the retailer";
/// Alert kinds.
const ALERT_UNVERIFIED: &str = "unverified_at_capture_deadline";
const ALERT_STUCK: &str = "settlement_stuck";

/// An order of a due checkout that is not terminal yet.
struct Unsettled {
    number: String,
    store_id: String,
    status: String,
    /// It may have been bought, or is being bought right now: an attempt reached the
    /// final click without a known result, or a person holds a live lease on it.
    under_way: bool,
}

/// One pass; returns how many checkouts it settled. Safe with several replicas: each
/// claims its checkouts with SKIP LOCKED, and settling is idempotent.
pub async fn run_once(pool: &PgPool, stripe: &Stripe) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due: Vec<(String, bool)> = sqlx::query_as(
        "SELECT id, capture_before < now() + $2::interval FROM checkouts
         WHERE status = 'authorized' AND capture_before < now() + $1::interval
         ORDER BY capture_before LIMIT $3 FOR UPDATE SKIP LOCKED",
    )
    .bind(MARGIN)
    .bind(FINAL_MARGIN)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (checkout_id, last_call) in &due {
        fail_or_wait(&mut tx, checkout_id, *last_call).await?;
    }
    tx.commit().await?;
    let mut settled = 0;
    for (checkout_id, last_call) in &due {
        let unverified = if *last_call {
            Unverified::LeaveToOps
        } else {
            Unverified::Wait
        };
        match settle::settle_now(pool, stripe, checkout_id, unverified).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::error!(checkout_id, error = %err, "capture deadline: settlement failed");
                alert_stuck(pool, checkout_id, &err.to_string()).await?;
            }
        }
    }
    Ok(settled)
}

/// Under the checkout's and its orders' row locks: fails the orders nobody is buying;
/// on the last call, hands the ones under way to ops.
async fn fail_or_wait(
    tx: &mut PgConnection,
    checkout_id: &str,
    last_call: bool,
) -> sqlx::Result<()> {
    let orders = lock_unsettled(tx, checkout_id).await?;
    let (mut failed, mut unverified, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
    for order in &orders {
        if !order.under_way {
            fail(tx, checkout_id, order).await?;
            failed.push(order.number.as_str());
        } else if last_call {
            hand_to_ops(tx, checkout_id, order).await?;
            unverified.push(order.number.as_str());
        } else {
            waiting.push(order.number.as_str());
        }
    }
    if !waiting.is_empty() {
        tracing::info!(checkout_id, orders = ?waiting, "capture deadline: waiting for orders being bought");
    }
    if failed.is_empty() && unverified.is_empty() {
        return Ok(());
    }
    tracing::warn!(checkout_id, failed = ?failed, unverified = ?unverified, "capture deadline: orders not placed");
    ops_audit::record(
        tx,
        ACTOR,
        "payments.capture_deadline",
        Target::Checkout(checkout_id),
        json!({ "failed_orders": failed, "unverified_orders": unverified, "reason": REASON }),
    )
    .await?;
    if !unverified.is_empty() {
        let alert = OpsAlert {
            kind: ALERT_UNVERIFIED.to_owned(),
            target: format!("checkout:{checkout_id}"),
            message: format!(
                "The authorization of checkout {checkout_id} is about to lapse while order(s) {} \
                 were being bought. What is placed is captured now; these were not. Check each at \
                 the retailer: one that was bought has not been paid for by the customer.",
                unverified.join(", ")
            ),
            detail: json!({ "orders": unverified }),
        };
        ops_alert::raise(tx, ACTOR, checkout_id, &alert).await?;
    }
    Ok(())
}

/// Locks the checkout's orders that are not terminal (in number order, as every other
/// writer of several orders does), then reads which are under way. Two statements: the
/// second runs after any purchase that held an order's lock has committed, so it sees
/// the attempt or lease that purchase wrote.
async fn lock_unsettled(tx: &mut PgConnection, checkout_id: &str) -> sqlx::Result<Vec<Unsettled>> {
    let numbers: Vec<String> = sqlx::query_scalar(
        "SELECT number FROM orders WHERE checkout_id = $1 AND status = ANY($2)
         ORDER BY number FOR UPDATE",
    )
    .bind(checkout_id)
    .bind(WAITING)
    .fetch_all(&mut *tx)
    .await?;
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT o.number, o.store_id, o.status,
                o.status = $2
                OR EXISTS (SELECT 1 FROM placement_attempts a WHERE a.order_number = o.number
                           AND a.state IN ('submitting', 'needs_verification'))
                OR EXISTS (SELECT 1 FROM manual_placements mp WHERE mp.order_number = o.number
                           AND mp.status = 'waiting' AND mp.lease_expires_at > now())
         FROM orders o WHERE o.number = ANY($1) ORDER BY o.number",
    )
    .bind(&numbers)
    .bind(os::NEEDS_VERIFICATION)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(number, store_id, status, under_way)| Unsettled {
            number,
            store_id,
            status,
            under_way,
        })
        .collect())
}

/// The order is `failed`, leaves the manual queue, and the customer is told.
async fn fail(tx: &mut PgConnection, checkout_id: &str, order: &Unsettled) -> sqlx::Result<()> {
    move_order(tx, checkout_id, order, os::FAILED, REASON).await?;
    close_queue_row(tx, &order.number, REASON).await?;
    let event = Failed {
        checkout_id: checkout_id.to_owned(),
        order_number: order.number.clone(),
        store_id: order.store_id.clone(),
        reason: REASON.to_owned(),
    };
    outbox::enqueue(tx, events::FAILED, checkout_id, &event).await?;
    Ok(())
}

/// The order may have been bought: it becomes `needs_verification`, an attempt still
/// `submitting` says so too, and it leaves the manual queue (nobody may start buying
/// it any more; a person checks it at the retailer).
async fn hand_to_ops(
    tx: &mut PgConnection,
    checkout_id: &str,
    order: &Unsettled,
) -> sqlx::Result<()> {
    if order.status != os::NEEDS_VERIFICATION {
        move_order(
            tx,
            checkout_id,
            order,
            os::NEEDS_VERIFICATION,
            UNVERIFIED_REASON,
        )
        .await?;
    }
    sqlx::query(
        "UPDATE placement_attempts SET state = 'needs_verification', error = $2, finished_at = now()
         WHERE order_number = $1 AND state = 'submitting'",
    )
    .bind(&order.number)
    .bind(UNVERIFIED_REASON)
    .execute(&mut *tx)
    .await?;
    close_queue_row(tx, &order.number, UNVERIFIED_REASON).await
}

async fn move_order(
    tx: &mut PgConnection,
    checkout_id: &str,
    order: &Unsettled,
    to: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE number = $1")
        .bind(&order.number)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    status::record(
        tx,
        Transition {
            checkout_id,
            order_number: Some(&order.number),
            from: Some(&order.status),
            to,
            actor: ACTOR,
            reason: Some(reason),
        },
    )
    .await
}

async fn close_queue_row(tx: &mut PgConnection, number: &str, reason: &str) -> sqlx::Result<()> {
    manual_queue::close_waiting(tx, number, "failed", ACTOR, reason).await
}

/// A due checkout whose settlement failed would sit `authorized`, its stock held, until
/// someone read the log: ops are alerted instead, once per checkout (later passes keep
/// trying to settle it).
async fn alert_stuck(pool: &PgPool, checkout_id: &str, error: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    // Serializes with another replica's alert for the same checkout.
    sqlx::query("SELECT 1 FROM checkouts WHERE id = $1 FOR UPDATE")
        .bind(checkout_id)
        .execute(&mut *tx)
        .await?;
    let target = format!("checkout:{checkout_id}");
    if ops_alert::raised_before(&mut tx, ALERT_STUCK, &target).await? {
        return Ok(());
    }
    let alert = OpsAlert {
        kind: ALERT_STUCK.to_owned(),
        target,
        message: format!(
            "Checkout {checkout_id} could not be settled before its authorization lapses \
             (the guard keeps trying every pass). Its stock stays held and nothing is captured \
             until it is. Last error: {error}"
        ),
        detail: json!({ "error": error }),
    };
    ops_alert::raise(&mut tx, ACTOR, checkout_id, &alert).await?;
    tx.commit().await
}
