//! Settlement: when every order of an authorized checkout is terminal, capture the placed
//! orders' sum (a partial capture releases the rest) or cancel the authorization if
//! nothing was placed; then bought stock leaves, the rest returns.
//!
//! The Stripe call runs between two short transactions, never inside one. Concurrent
//! settlers of one checkout (two order events at once, the deadline guard) compute the
//! same amount and send the same idempotency key, so Stripe captures once; the second
//! transaction locks the checkout row and only the first to commit writes the outcome.
//!
//! The PaymentIntent at Stripe decides, not the job: a job replayed long after its first
//! run (from the dead letters, after Stripe forgot the key) may find the capture or the
//! cancel already done, and then records it without asking again.

use cartwright_shared::outbox;
use cartwright_shared::queue::handler::{Context, HandlerError};
use cartwright_shared::status::{checkout as cs, order as os};
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use stripe_core::PaymentIntentStatus;

use super::checkout::{self, Checkout};
use super::stripe::{Stripe, key};
use super::{ACTOR, ledger, stock};

#[derive(Deserialize)]
pub struct OrderSettled {
    pub checkout_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Capture { amount: i64, placed: Vec<String> },
    Cancel,
}

/// What settling does with an order that is `needs_verification` (it may or may not
/// have been bought).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverified {
    /// Wait: a person settles the question first.
    Wait,
    /// Settle without it (the authorization is about to lapse): it is not captured, and
    /// ops have been told to check it.
    LeaveToOps,
}

pub async fn on_order_event(
    ctx: &mut Context,
    stripe: &Stripe,
    checkout_id: &str,
) -> Result<(), HandlerError> {
    let Some((checkout, plan)) = plan(ctx.pool(), checkout_id, Unverified::Wait).await? else {
        return Ok(());
    };
    let settled = execute(stripe, &checkout, plan).await?;
    let mut tx = ctx.begin().await?;
    record(&mut tx, checkout_id, &settled).await?;
    ctx.commit(tx).await?;
    Ok(())
}

/// Settles a checkout outside the queue (the deadline guard).
pub async fn settle_now(
    pool: &PgPool,
    stripe: &Stripe,
    checkout_id: &str,
    unverified: Unverified,
) -> Result<bool, HandlerError> {
    let Some((checkout, plan)) = plan(pool, checkout_id, unverified).await? else {
        return Ok(false);
    };
    let settled = execute(stripe, &checkout, plan).await?;
    let mut tx = pool.begin().await?;
    let done = record(&mut tx, checkout_id, &settled).await?;
    tx.commit().await?;
    Ok(done)
}

/// What settling would do now, or `None` when the checkout is not authorized or an
/// order is still on its way.
pub async fn plan(
    pool: &PgPool,
    checkout_id: &str,
    unverified: Unverified,
) -> sqlx::Result<Option<(Checkout, Plan)>> {
    let mut conn = pool.acquire().await?;
    let Some(checkout) = checkout::read(&mut conn, checkout_id).await? else {
        return Ok(None);
    };
    if checkout.status != cs::AUTHORIZED {
        return Ok(None);
    }
    let orders: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT number, status, total FROM orders WHERE checkout_id = $1 ORDER BY number",
    )
    .bind(checkout_id)
    .fetch_all(&mut *conn)
    .await?;
    let terminal = |s: &str| {
        os::BOUGHT.contains(&s)
            || s == os::FAILED
            || s == os::CANCELLED
            || (s == os::NEEDS_VERIFICATION && unverified == Unverified::LeaveToOps)
    };
    if !orders.iter().all(|(_, s, _)| terminal(s)) {
        return Ok(None);
    }
    let placed: Vec<(String, String, i64)> = orders
        .into_iter()
        .filter(|(_, s, _)| os::BOUGHT.contains(&s.as_str()))
        .collect();
    let plan = if placed.is_empty() {
        Plan::Cancel
    } else {
        Plan::Capture {
            amount: placed.iter().map(|(_, _, total)| total).sum(),
            placed: placed.into_iter().map(|(n, _, _)| n).collect(),
        }
    };
    Ok(Some((checkout, plan)))
}

/// Carries out `plan` at Stripe unless Stripe has already settled the PaymentIntent;
/// returns what was settled (a capture with the amount Stripe received).
async fn execute(stripe: &Stripe, checkout: &Checkout, plan: Plan) -> Result<Plan, HandlerError> {
    let Some(pi_id) = checkout.payment_intent_id.as_deref() else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "authorized checkout {} has no PaymentIntent",
            checkout.id
        )));
    };
    let pi = stripe.payment_intent(pi_id).await?;
    match (pi.status, plan) {
        (PaymentIntentStatus::RequiresCapture, Plan::Capture { amount, placed }) => {
            stripe.capture(&checkout.id, pi_id, amount).await?;
            Ok(Plan::Capture { amount, placed })
        }
        (PaymentIntentStatus::RequiresCapture, Plan::Cancel) => {
            stripe.cancel(&checkout.id, pi_id).await?;
            Ok(Plan::Cancel)
        }
        (PaymentIntentStatus::Succeeded, Plan::Capture { placed, .. }) => {
            tracing::info!(checkout_id = %checkout.id, payment_intent = pi_id, received = pi.amount_received,
                "already captured at Stripe; recording it");
            Ok(Plan::Capture {
                amount: pi.amount_received,
                placed,
            })
        }
        (PaymentIntentStatus::Canceled, Plan::Cancel) => {
            tracing::info!(checkout_id = %checkout.id, payment_intent = pi_id,
                "already cancelled at Stripe; recording it");
            Ok(Plan::Cancel)
        }
        (status, plan) => Err(HandlerError::Permanent(anyhow::anyhow!(
            "checkout {} should settle as {plan:?} but its PaymentIntent {pi_id} is {status}",
            checkout.id
        ))),
    }
}

/// Writes the settlement if no one has yet; returns whether this call wrote it.
pub async fn record(conn: &mut PgConnection, checkout_id: &str, plan: &Plan) -> sqlx::Result<bool> {
    let Some(checkout) = checkout::lock(conn, checkout_id).await? else {
        return Ok(false);
    };
    if checkout.status != cs::AUTHORIZED {
        return Ok(false);
    }
    let (kind, amount, idempotency_key) = match plan {
        Plan::Capture { amount, .. } => ("capture", *amount, key::capture(checkout_id)),
        Plan::Cancel => ("cancel", checkout.total, key::cancel(checkout_id)),
    };
    ledger::record(
        conn,
        ledger::Entry {
            checkout_id,
            order_number: None,
            kind,
            amount,
            currency: &checkout.currency,
            stripe_id: checkout.payment_intent_id.as_deref(),
            error: None,
            idempotency_key: &idempotency_key,
        },
    )
    .await?;
    match plan {
        Plan::Capture { amount, placed } => {
            stock::settle(conn, checkout_id, placed).await?;
            let reason = format!("captured {amount} for {} placed order(s)", placed.len());
            checkout::set_status(conn, &checkout, cs::COMPLETED, ACTOR, Some(&reason)).await?;
            let payload = json!({ "checkout_id": checkout_id, "captured": amount, "currency": checkout.currency });
            outbox::enqueue(conn, "checkout.completed", checkout_id, &payload).await?;
        }
        Plan::Cancel => {
            stock::release_all(conn, checkout_id).await?;
            let reason = "no order was placed; authorization cancelled";
            checkout::set_status(conn, &checkout, cs::CANCELLED, ACTOR, Some(reason)).await?;
            outbox::enqueue(
                conn,
                "checkout.cancelled",
                checkout_id,
                &json!({ "checkout_id": checkout_id }),
            )
            .await?;
        }
    }
    Ok(true)
}
