//! Refunds ops asked for (`refund.requested`): one Stripe refund per request, keyed by
//! the order and the request's sequence number, then the order is `refunded` (all of
//! it) or `partially_refunded`.
//!
//! Before sending, the job looks for the refund at Stripe (by the order and sequence in
//! its metadata): a job replayed from the dead letters after Stripe forgot the key (about
//! 24 hours) must find the refund it made, not make a second one.

use cartwright_shared::ops_alert::{self, OpsAlert};
use cartwright_shared::outbox;
use cartwright_shared::queue::handler::{Context, HandlerError};
use cartwright_shared::status::order as os;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

use super::checkout::{self, Checkout};
use super::stripe::{Failure, Stripe, key};
use super::{ACTOR, ledger};

#[derive(Deserialize)]
pub struct Requested {
    pub checkout_id: String,
    pub order_number: String,
    pub amount: i64,
    pub refund_number: i32,
    /// Stripe's refund reason (`duplicate`, `fraudulent`, `requested_by_customer`).
    #[serde(default)]
    pub reason: Option<String>,
}

pub async fn run(
    ctx: &mut Context,
    stripe: &Stripe,
    request: &Requested,
) -> Result<(), HandlerError> {
    let mut conn = ctx.pool().acquire().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM refunds WHERE order_number = $1 AND sequence = $2")
            .bind(&request.order_number)
            .bind(request.refund_number)
            .fetch_optional(&mut *conn)
            .await?;
    if status.as_deref() != Some("requested") {
        return Ok(());
    }
    let checkout = checkout::read(&mut conn, &request.checkout_id).await?;
    drop(conn);
    let Some(checkout) = checkout else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "no checkout {}",
            request.checkout_id
        )));
    };
    let Some(pi) = checkout.payment_intent_id.as_deref() else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "checkout {} was never paid",
            checkout.id
        )));
    };
    let made = stripe
        .find_refund(pi, &request.order_number, request.refund_number)
        .await?;
    let outcome = match made {
        Some(refund) if refund.amount != request.amount => {
            return Err(HandlerError::Permanent(anyhow::anyhow!(
                "Stripe already has refund {} of order {} ({}), for {} instead of {}",
                request.refund_number,
                request.order_number,
                refund.id,
                refund.amount,
                request.amount
            )));
        }
        Some(refund) => {
            tracing::info!(order_number = %request.order_number, refund = %refund.id,
                "the refund was already made at Stripe; recording it");
            Ok(refund)
        }
        None => {
            stripe
                .refund(
                    pi,
                    &request.order_number,
                    request.refund_number,
                    request.amount,
                    request.reason.as_deref(),
                )
                .await
        }
    };
    let mut tx = ctx.begin().await?;
    match outcome {
        Ok(refund) => succeeded(&mut tx, &checkout, request, refund.id.as_str()).await?,
        Err(Failure::Refused(refusal)) => {
            tracing::error!(order_number = %request.order_number, %refusal, "Stripe refused a refund");
            failed(&mut tx, &checkout, request, &refusal.to_string()).await?;
        }
        Err(other) => return Err(other.into()),
    }
    ctx.commit(tx).await?;
    Ok(())
}

async fn succeeded(
    conn: &mut PgConnection,
    checkout: &Checkout,
    request: &Requested,
    refund_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refunds SET status = 'succeeded', stripe_refund_id = $3, settled_at = now()
         WHERE order_number = $1 AND sequence = $2",
    )
    .bind(&request.order_number)
    .bind(request.refund_number)
    .bind(refund_id)
    .execute(&mut *conn)
    .await?;
    write_ledger(conn, checkout, request, Some(refund_id), None).await?;
    let (total, refunded): (i64, i64) = sqlx::query_as(
        "SELECT o.total, COALESCE((SELECT sum(amount) FROM refunds r
                 WHERE r.order_number = o.number AND r.status = 'succeeded'), 0)::BIGINT
         FROM orders o WHERE o.number = $1",
    )
    .bind(&request.order_number)
    .fetch_one(&mut *conn)
    .await?;
    let to = if refunded >= total {
        os::REFUNDED
    } else {
        os::PARTIALLY_REFUNDED
    };
    let from: String = sqlx::query_scalar("SELECT status FROM orders WHERE number = $1 FOR UPDATE")
        .bind(&request.order_number)
        .fetch_one(&mut *conn)
        .await?;
    if from != to {
        sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE number = $1")
            .bind(&request.order_number)
            .bind(to)
            .execute(&mut *conn)
            .await?;
        let reason = format!("refund {} of {}", request.refund_number, request.amount);
        cartwright_shared::status::record(
            conn,
            cartwright_shared::status::Transition {
                checkout_id: &checkout.id,
                order_number: Some(&request.order_number),
                from: Some(&from),
                to,
                actor: ACTOR,
                reason: Some(&reason),
            },
        )
        .await?;
    }
    let payload = json!({
        "checkout_id": checkout.id,
        "order_number": request.order_number,
        "amount": request.amount,
        "stripe_refund_id": refund_id,
    });
    outbox::enqueue(conn, "payment.refunded", &checkout.id, &payload).await?;
    Ok(())
}

async fn failed(
    conn: &mut PgConnection,
    checkout: &Checkout,
    request: &Requested,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refunds SET status = 'failed', error = $3, settled_at = now()
         WHERE order_number = $1 AND sequence = $2",
    )
    .bind(&request.order_number)
    .bind(request.refund_number)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    write_ledger(conn, checkout, request, None, Some(error)).await?;
    let alert = OpsAlert {
        kind: ALERT_REFUND_FAILED.to_owned(),
        target: format!("order:{}", request.order_number),
        message: format!(
            "Stripe refused refund {} of order {} ({} in minor units): {error}. The customer has \
             not been refunded; settle it with them or refund another way.",
            request.refund_number, request.order_number, request.amount
        ),
        detail: json!({
            "checkout_id": checkout.id,
            "refund_number": request.refund_number,
            "amount": request.amount,
            "error": error,
        }),
    };
    ops_alert::raise(conn, ACTOR, &checkout.id, &alert).await
}

/// The `ops.alert` kind of a refund Stripe refused.
pub const ALERT_REFUND_FAILED: &str = "refund_failed";

async fn write_ledger(
    conn: &mut PgConnection,
    checkout: &Checkout,
    request: &Requested,
    refund_id: Option<&str>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    ledger::record(
        conn,
        ledger::Entry {
            checkout_id: &checkout.id,
            order_number: Some(&request.order_number),
            kind: "refund",
            amount: request.amount,
            currency: &checkout.currency,
            stripe_id: refund_id,
            error,
            idempotency_key: &key::refund(&request.order_number, request.refund_number),
        },
    )
    .await
}
