//! The manual queue in PostgreSQL. Every change happens in one transaction with its
//! audit row and, when the order's status moves, its outbox event.
//!
//! Claims are leases. A claim is one conditional `UPDATE`: it succeeds only while the
//! row is waiting and unheld (or held by the same person, or its lease has run out).
//! Two concurrent claims serialise on the row lock and PostgreSQL re-checks the
//! condition against the winner's row, so exactly one wins. Placing or failing locks
//! the row and checks that the caller holds a live lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{Delivered, Failed, ManualPlacement, Placed, Shipped, events, tolerance};
use crate::capture_deadline::{self, Purchase};
use crate::ops_audit::{self, Target};
use crate::outbox;
use crate::status::{self, Transition, order};

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("order {0} is not in the manual queue")]
    NotQueued(String),
    #[error("order {0} does not exist")]
    NoSuchOrder(String),
    #[error("order {number} is claimed by {holder} until {until}")]
    AlreadyClaimed {
        number: String,
        holder: String,
        until: DateTime<Utc>,
    },
    #[error("{}", not_holder_message(number, holder.as_deref()))]
    NotHolder {
        number: String,
        holder: Option<String>,
    },
    #[error("order {number} has already left the manual queue ({status})")]
    Closed { number: String, status: String },
    #[error("order {number} is {status}; this needs it {expected}")]
    InvalidStatus {
        number: String,
        status: String,
        expected: &'static str,
    },
    #[error(
        "order {0} can no longer be bought: its payment authorization ends too soon (the capture deadline)"
    )]
    AuthorizationEnding(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn not_holder_message(number: &str, holder: Option<&str>) -> String {
    match holder {
        Some(holder) => format!("order {number} is claimed by {holder}; only they can do this"),
        None => {
            format!("order {number} is not claimed by you (or your lease ran out); claim it first")
        }
    }
}

/// Who holds an order, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// What happened to an `order.manual_placement`.
#[derive(Debug, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// Already waiting: a redelivery, or the same order sent twice.
    AlreadyQueued,
    /// The order is past placement (placed, failed, cancelled): left alone.
    NotPlaceable(String),
}

/// The `ops_audit` action of an order joining the queue.
pub const QUEUED_ACTION: &str = "placement.queued";

/// Statuses from which an order may join the manual queue.
const PLACEABLE: [&str; 3] = [
    order::READY_FOR_PLACEMENT,
    order::PLACING,
    order::NEEDS_VERIFICATION,
];

/// Writes the order's waiting row (re-opening a resolved one). With `requeue_waiting`
/// false, a row already waiting is left as it is; returns the rows written.
async fn queue_row(
    tx: &mut PgConnection,
    message: &ManualPlacement,
    checkout_id: &str,
    store_id: &str,
    requeue_waiting: bool,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO manual_placements (order_number, checkout_id, store_id, reason)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (order_number) DO UPDATE SET status = 'waiting', reason = EXCLUDED.reason,
             queued_at = now(), claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
             resolved_at = NULL, resolved_by = NULL, failure_reason = NULL, ops_notified_at = NULL
         WHERE $5 OR manual_placements.status <> 'waiting'",
    )
    .bind(&message.order_number)
    .bind(checkout_id)
    .bind(store_id)
    .bind(&message.reason)
    .bind(requeue_waiting)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Puts an order into the manual queue inside the caller's transaction (the intake
/// worker's, which also records the message in its inbox).
pub async fn enqueue(
    tx: &mut PgConnection,
    message: &ManualPlacement,
    actor: &str,
) -> Result<Enqueued, PlacementError> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT status, checkout_id, store_id FROM orders WHERE number = $1 FOR UPDATE",
    )
    .bind(&message.order_number)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((current, checkout_id, store_id)) = row else {
        return Err(PlacementError::NoSuchOrder(message.order_number.clone()));
    };
    if current == order::AWAITING_MANUAL {
        // The browser worker moves an order here itself (with its audit row) in the
        // transaction that announces it; the queue row is still this intake's to write.
        // Without it the order would wait for a person no list ever shows.
        let queued = queue_row(tx, message, &checkout_id, &store_id, false).await?;
        return Ok(if queued == 1 {
            Enqueued::Queued
        } else {
            Enqueued::AlreadyQueued
        });
    }
    if !PLACEABLE.contains(&current.as_str()) {
        return Ok(Enqueued::NotPlaceable(current));
    }
    queue_row(tx, message, &checkout_id, &store_id, true).await?;
    set_status(tx, &message.order_number, order::AWAITING_MANUAL).await?;
    status::record(
        tx,
        Transition {
            checkout_id: &checkout_id,
            order_number: Some(&message.order_number),
            from: Some(&current),
            to: order::AWAITING_MANUAL,
            actor,
            reason: Some(&message.reason),
        },
    )
    .await?;
    audit(
        tx,
        actor,
        QUEUED_ACTION,
        &message.order_number,
        json!({ "reason": message.reason, "store": store_id }),
    )
    .await?;
    Ok(Enqueued::Queued)
}

/// Closes an order's waiting queue row as `status` (`failed`, `cancelled`), its lease
/// cleared, by `actor` for `reason`: the order will not be bought through the queue.
pub async fn close_waiting(
    tx: &mut PgConnection,
    number: &str,
    status: &str,
    actor: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE manual_placements SET status = $2, claimed_by = NULL, claimed_at = NULL,
                lease_expires_at = NULL, resolved_at = now(), resolved_by = $3, failure_reason = $4
         WHERE order_number = $1 AND status = 'waiting'",
    )
    .bind(number)
    .bind(status)
    .bind(actor)
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(())
}

/// Gives a waiting order to `actor` for `lease`. Claiming an order one already holds
/// extends the lease. A claim is the start of a purchase, so it holds the order's row
/// lock and needs the order `awaiting_manual` and its authorization able to pay
/// (`crate::capture_deadline`): the capture-deadline guard, which fails orders under
/// the same lock, then waits for the lease instead.
pub async fn claim(
    pool: &PgPool,
    number: &str,
    actor: &str,
    lease: Duration,
) -> Result<Lease, PlacementError> {
    let mut tx = pool.begin().await?;
    let purchase =
        capture_deadline::lock_for_purchase(&mut tx, number, order::AWAITING_MANUAL).await?;
    if purchase != Purchase::Allowed {
        return Err(not_buyable(&mut tx, number, purchase).await?);
    }
    let claimed: Option<(String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE manual_placements
         SET claimed_by = $2, claimed_at = now(), lease_expires_at = now() + make_interval(secs => $3)
         WHERE order_number = $1 AND status = 'waiting'
           AND (claimed_by IS NULL OR claimed_by = $2 OR lease_expires_at <= now())
         RETURNING claimed_by, lease_expires_at",
    )
    .bind(number)
    .bind(actor)
    .bind(lease.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((holder, expires_at)) = claimed else {
        return Err(why_not(&mut tx, number, actor).await?);
    };
    audit(
        &mut tx,
        actor,
        "placement.claim",
        number,
        json!({ "lease_expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(Lease { holder, expires_at })
}

/// Extends the caller's live lease by `lease` from now.
pub async fn renew(
    pool: &PgPool,
    number: &str,
    actor: &str,
    lease: Duration,
) -> Result<Lease, PlacementError> {
    let mut tx = pool.begin().await?;
    let renewed: Option<(String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE manual_placements SET lease_expires_at = now() + make_interval(secs => $3)
         WHERE order_number = $1 AND status = 'waiting' AND claimed_by = $2 AND lease_expires_at > now()
         RETURNING claimed_by, lease_expires_at",
    )
    .bind(number)
    .bind(actor)
    .bind(lease.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((holder, expires_at)) = renewed else {
        return Err(match why_not(&mut tx, number, actor).await? {
            PlacementError::AlreadyClaimed { number, holder, .. } => PlacementError::NotHolder {
                number,
                holder: Some(holder),
            },
            // Not held by anyone (a lapsed lease included): renewing needs a claim.
            PlacementError::Database(e) => PlacementError::Database(e),
            other @ (PlacementError::NotQueued(_) | PlacementError::Closed { .. }) => other,
            _ => PlacementError::NotHolder {
                number: number.to_owned(),
                holder: None,
            },
        });
    };
    audit(
        &mut tx,
        actor,
        "placement.renew",
        number,
        json!({ "lease_expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(Lease { holder, expires_at })
}

/// A queue row's status, holder, lease expiry and whether the lease is live.
type ClaimState = (String, Option<String>, Option<DateTime<Utc>>, bool);

/// Why a claim did not apply: gone, closed, or someone else's live lease.
async fn why_not(
    tx: &mut PgConnection,
    number: &str,
    actor: &str,
) -> Result<PlacementError, sqlx::Error> {
    let row: Option<ClaimState> = sqlx::query_as(
        "SELECT status, claimed_by, lease_expires_at, COALESCE(lease_expires_at > now(), false)
         FROM manual_placements WHERE order_number = $1",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match row {
        None => PlacementError::NotQueued(number.to_owned()),
        Some((status, _, _, _)) if status != "waiting" => PlacementError::Closed {
            number: number.to_owned(),
            status,
        },
        Some((_, Some(holder), Some(until), true)) if holder != actor => {
            PlacementError::AlreadyClaimed {
                number: number.to_owned(),
                holder,
                until,
            }
        }
        _ => PlacementError::NotHolder {
            number: number.to_owned(),
            holder: None,
        },
    })
}

/// Why an order that may not be bought now cannot be claimed: its queue row is gone or
/// closed, or else the purchase's own reason.
async fn not_buyable(
    tx: &mut PgConnection,
    number: &str,
    purchase: Purchase,
) -> Result<PlacementError, sqlx::Error> {
    let queued: Option<String> =
        sqlx::query_scalar("SELECT status FROM manual_placements WHERE order_number = $1")
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(match (queued, purchase) {
        (None, _) | (_, Purchase::NoSuchOrder) => PlacementError::NotQueued(number.to_owned()),
        (Some(status), _) if status != "waiting" => PlacementError::Closed {
            number: number.to_owned(),
            status,
        },
        (_, Purchase::WrongStatus(status)) => PlacementError::InvalidStatus {
            number: number.to_owned(),
            status,
            expected: "awaiting_manual",
        },
        (_, Purchase::AuthorizationEnding | Purchase::Allowed) => {
            PlacementError::AuthorizationEnding(number.to_owned())
        }
    })
}

/// checkout, store, queue status, holder, lease live, order status.
type HeldRow = (String, String, String, Option<String>, bool, String);

/// A locked queue row with its order, checked to be waiting and held by `actor`.
struct Held {
    checkout_id: String,
    store_id: String,
    order_status: String,
}

async fn lock_held(
    tx: &mut PgConnection,
    number: &str,
    actor: &str,
) -> Result<Held, PlacementError> {
    let row: Option<HeldRow> = sqlx::query_as(
        "SELECT mp.checkout_id, mp.store_id, mp.status, mp.claimed_by,
                COALESCE(mp.lease_expires_at > now(), false), o.status
         FROM manual_placements mp JOIN orders o ON o.number = mp.order_number
         WHERE mp.order_number = $1 FOR UPDATE OF mp, o",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((checkout_id, store_id, status, holder, live, order_status)) = row else {
        return Err(PlacementError::NotQueued(number.to_owned()));
    };
    if status != "waiting" {
        return Err(PlacementError::Closed {
            number: number.to_owned(),
            status,
        });
    }
    match holder {
        Some(holder) if holder == actor && live => {}
        Some(holder) if live => {
            return Err(PlacementError::NotHolder {
                number: number.to_owned(),
                holder: Some(holder),
            });
        }
        _ => {
            return Err(PlacementError::NotHolder {
                number: number.to_owned(),
                holder: None,
            });
        }
    }
    if order_status != order::AWAITING_MANUAL {
        return Err(PlacementError::InvalidStatus {
            number: number.to_owned(),
            status: order_status,
            expected: "awaiting_manual",
        });
    }
    Ok(Held {
        checkout_id,
        store_id,
        order_status,
    })
}

/// What ops record when they have bought an order.
#[derive(Debug, Clone)]
pub struct Placement {
    pub store_order_number: String,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub total_paid: Option<i64>,
}

/// The lease holder records the retailer's order: the order is `placed`, leaves the
/// queue, and `order.placed` goes out. A total paid over the store's tolerance is still
/// placed (it was bought), flagged and alerted ([`tolerance::record_total_paid`]).
pub async fn place(
    pool: &PgPool,
    number: &str,
    actor: &str,
    placement: &Placement,
) -> Result<(), PlacementError> {
    let mut tx = pool.begin().await?;
    let held = lock_held(&mut tx, number, actor).await?;
    sqlx::query(
        "UPDATE orders SET status = $2, store_order_number = $3, tracking_number = $4, carrier = $5,
                placed_at = now(), placed_by = $6, updated_at = now()
         WHERE number = $1",
    )
    .bind(number)
    .bind(order::PLACED)
    .bind(&placement.store_order_number)
    .bind(&placement.tracking_number)
    .bind(&placement.carrier)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    if let Some(paid) = placement.total_paid {
        tolerance::record_total_paid(&mut tx, &held.checkout_id, number, paid, actor).await?;
    }
    close(&mut tx, number, "placed", actor, None).await?;
    let reason = format!("retailer order {}", placement.store_order_number);
    status::record(
        &mut tx,
        Transition {
            checkout_id: &held.checkout_id,
            order_number: Some(number),
            from: Some(&held.order_status),
            to: order::PLACED,
            actor,
            reason: Some(&reason),
        },
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        events::PLACED,
        &held.checkout_id,
        &Placed {
            checkout_id: held.checkout_id.clone(),
            order_number: number.to_owned(),
            store_id: held.store_id.clone(),
            store_order_number: placement.store_order_number.clone(),
            total_paid: placement.total_paid,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(order = number, actor, store_order_number = %placement.store_order_number, "order placed by hand");
    Ok(())
}

/// The lease holder gives up on an order: it is `failed`, leaves the queue, and
/// `order.failed` goes out (settlement then leaves it out of the capture).
pub async fn fail(
    pool: &PgPool,
    number: &str,
    actor: &str,
    reason: &str,
) -> Result<(), PlacementError> {
    let mut tx = pool.begin().await?;
    let held = lock_held(&mut tx, number, actor).await?;
    set_status(&mut tx, number, order::FAILED).await?;
    close(&mut tx, number, "failed", actor, Some(reason)).await?;
    status::record(
        &mut tx,
        Transition {
            checkout_id: &held.checkout_id,
            order_number: Some(number),
            from: Some(&held.order_status),
            to: order::FAILED,
            actor,
            reason: Some(reason),
        },
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        events::FAILED,
        &held.checkout_id,
        &Failed {
            checkout_id: held.checkout_id.clone(),
            order_number: number.to_owned(),
            store_id: held.store_id.clone(),
            reason: reason.to_owned(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(order = number, actor, reason, "order marked failed by hand");
    Ok(())
}

/// A placed order has shipped: its tracking is recorded, `order.shipped` goes out.
pub async fn ship(
    pool: &PgPool,
    number: &str,
    actor: &str,
    tracking_number: &str,
    carrier: &str,
) -> Result<(), PlacementError> {
    let mut tx = pool.begin().await?;
    let (checkout_id, current) = lock_order(&mut tx, number).await?;
    if current != order::PLACED {
        return Err(PlacementError::InvalidStatus {
            number: number.to_owned(),
            status: current,
            expected: "placed",
        });
    }
    sqlx::query(
        "UPDATE orders SET status = $2, tracking_number = $3, carrier = $4, updated_at = now()
         WHERE number = $1",
    )
    .bind(number)
    .bind(order::SHIPPED)
    .bind(tracking_number)
    .bind(carrier)
    .execute(&mut *tx)
    .await?;
    let reason = format!("{carrier} {tracking_number}");
    status::record(
        &mut tx,
        Transition {
            checkout_id: &checkout_id,
            order_number: Some(number),
            from: Some(&current),
            to: order::SHIPPED,
            actor,
            reason: Some(&reason),
        },
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        events::SHIPPED,
        &checkout_id,
        &Shipped {
            checkout_id: checkout_id.clone(),
            order_number: number.to_owned(),
            tracking_number: tracking_number.to_owned(),
            carrier: carrier.to_owned(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A shipped order has arrived.
pub async fn deliver(pool: &PgPool, number: &str, actor: &str) -> Result<(), PlacementError> {
    let mut tx = pool.begin().await?;
    let (checkout_id, current) = lock_order(&mut tx, number).await?;
    if current != order::SHIPPED {
        return Err(PlacementError::InvalidStatus {
            number: number.to_owned(),
            status: current,
            expected: "shipped",
        });
    }
    set_status(&mut tx, number, order::DELIVERED).await?;
    status::record(
        &mut tx,
        Transition {
            checkout_id: &checkout_id,
            order_number: Some(number),
            from: Some(&current),
            to: order::DELIVERED,
            actor,
            reason: None,
        },
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        events::DELIVERED,
        &checkout_id,
        &Delivered {
            checkout_id: checkout_id.clone(),
            order_number: number.to_owned(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Returns expired claims to the queue (a claim also ignores an expired lease, so this
/// only keeps the listing honest). Safe with several sweepers: rows are taken with
/// SKIP LOCKED. Returns how many were released.
pub async fn release_expired(pool: &PgPool, actor: &str) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let released: Vec<(String, String)> = sqlx::query_as(
        "WITH expired AS (
             SELECT id, claimed_by FROM manual_placements
             WHERE claimed_by IS NOT NULL AND lease_expires_at <= now()
             ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED)
         UPDATE manual_placements mp
         SET claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
         FROM expired WHERE mp.id = expired.id
         RETURNING mp.order_number, expired.claimed_by",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (number, holder) in &released {
        audit(
            &mut tx,
            actor,
            "placement.lease_expired",
            number,
            json!({ "holder": holder }),
        )
        .await?;
        tracing::info!(order = %number, %holder, "claim expired; the order is back in the queue");
    }
    tx.commit().await?;
    Ok(released.len() as u64)
}

async fn lock_order(
    tx: &mut PgConnection,
    number: &str,
) -> Result<(String, String), PlacementError> {
    sqlx::query_as("SELECT checkout_id, status FROM orders WHERE number = $1 FOR UPDATE")
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| PlacementError::NoSuchOrder(number.to_owned()))
}

async fn set_status(tx: &mut PgConnection, number: &str, to: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE number = $1")
        .bind(number)
        .bind(to)
        .execute(tx)
        .await?;
    Ok(())
}

async fn close(
    tx: &mut PgConnection,
    number: &str,
    status: &str,
    actor: &str,
    failure_reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE manual_placements SET status = $2, claimed_by = NULL, claimed_at = NULL,
                lease_expires_at = NULL, resolved_at = now(), resolved_by = $3, failure_reason = $4
         WHERE order_number = $1",
    )
    .bind(number)
    .bind(status)
    .bind(actor)
    .bind(failure_reason)
    .execute(tx)
    .await?;
    Ok(())
}

/// An ops_audit row about an order.
async fn audit(
    tx: &mut PgConnection,
    actor: &str,
    action: &str,
    number: &str,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    ops_audit::record(tx, actor, action, Target::Order(number), detail).await
}
