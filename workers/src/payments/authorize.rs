//! Authorization: a manual-capture PaymentIntent for the checkout's total. Approved →
//! the checkout is `authorized` and its orders go to placement; 3-D Secure → it waits
//! for the customer (a webhook moves it on); declined → `payment_failed`, stock back.

use cartwright_shared::outbox;
use cartwright_shared::placement::cancel;
use cartwright_shared::placement::route::{self, Routing};
use cartwright_shared::queue::handler::{Context, HandlerError};
use cartwright_shared::status::{checkout as cs, order as os};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use stripe_core::{PaymentIntent, PaymentIntentStatus};

use super::checkout::{self, Checkout};
use super::stripe::{self as stripe_api, Failure, Stripe, key};
use super::{ACTOR, ledger, stock};

/// How long Stripe keeps a card authorization when the PaymentIntent does not say.
const AUTHORIZATION_LIFETIME: &str = "6 days";

#[derive(Deserialize)]
pub struct Submitted {
    pub checkout_id: String,
}

pub async fn run(
    ctx: &mut Context,
    stripe: &Stripe,
    checkout_id: &str,
) -> Result<(), HandlerError> {
    let mut conn = ctx.pool().acquire().await?;
    let Some(found) = checkout::read(&mut conn, checkout_id).await? else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "no checkout {checkout_id}"
        )));
    };
    drop(conn);
    if found.status != cs::PENDING {
        tracing::info!(checkout_id, status = %found.status, "checkout not pending; not authorizing");
        return Ok(());
    }
    let outcome = stripe
        .authorize(
            &found.id,
            found.total,
            &found.currency,
            &found.payment_method,
        )
        .await;
    let mut tx = ctx.begin().await?;
    let Some(current) = checkout::lock(&mut tx, checkout_id).await? else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "no checkout {checkout_id}"
        )));
    };
    // The webhook may have applied this very PaymentIntent first (our answer was lost
    // and the retry got Stripe's replay): then it is the checkout's, not unwanted. The
    // fault drill saw such an authorization cancelled, and the placed orders unpaid.
    let taken = current.payment_intent_id.as_deref()
        == outcome.as_ref().ok().map(|pi| pi.id.as_str())
        && current.status != cs::EXPIRED;
    match outcome {
        Ok(pi) if current.status != cs::PENDING && !taken => {
            // Expired (or otherwise moved on) while Stripe answered: let the hold go.
            drop(tx);
            return release_unwanted(ctx, stripe, &current, &pi).await;
        }
        Ok(pi) => apply_intent(&mut tx, &current, &pi, ACTOR).await?,
        Err(Failure::Declined {
            code,
            decline_code,
            message,
            ..
        }) => {
            if current.status == cs::PENDING {
                let reason = customer_reason(&code, &message);
                let decline = decline_code.unwrap_or(code);
                failed(&mut tx, &current, &reason, Some(&decline), ACTOR).await?;
            }
        }
        Err(Failure::Refused(refusal)) => {
            // An unknown or detached PaymentMethod, an amount Stripe will not take…: it
            // never will, so the checkout ends now rather than waiting in a dead letter
            // with its stock held.
            tracing::warn!(checkout_id, %refusal, "Stripe refused the authorization");
            if current.status == cs::PENDING {
                let (code, reason) = refusal.for_customer();
                failed(&mut tx, &current, reason, Some(code), ACTOR).await?;
            }
        }
        Err(Failure::Job(err)) => return Err(err),
    }
    ctx.commit(tx).await?;
    Ok(())
}

/// Moves a checkout that is waiting for payment (`pending`, `requires_action`) where the
/// PaymentIntent now stands. Any other checkout is left alone, so a late or repeated
/// webhook changes nothing.
pub async fn apply_intent(
    conn: &mut PgConnection,
    checkout: &Checkout,
    pi: &PaymentIntent,
    actor: &str,
) -> sqlx::Result<()> {
    if checkout.status != cs::PENDING && checkout.status != cs::REQUIRES_ACTION {
        return Ok(());
    }
    match pi.status {
        PaymentIntentStatus::RequiresCapture => authorized(conn, checkout, pi, actor).await,
        PaymentIntentStatus::RequiresAction if checkout.status == cs::PENDING => {
            requires_action(conn, checkout, pi, actor).await
        }
        PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::Canceled
            if checkout.status == cs::REQUIRES_ACTION || pi.last_payment_error.is_some() =>
        {
            let (message, decline) = stripe_api::last_error(pi);
            let reason = customer_reason(decline.as_deref().unwrap_or(""), &message);
            failed(conn, checkout, &reason, decline.as_deref(), actor).await
        }
        _ => Ok(()),
    }
}

async fn authorized(
    conn: &mut PgConnection,
    checkout: &Checkout,
    pi: &PaymentIntent,
    actor: &str,
) -> sqlx::Result<()> {
    // One statement: the checkout's PaymentIntent, deadline and status in one new row
    // version, its audit row and the ledger's authorization (issue 15). Its holds are
    // left as they are: the reaper expires only checkouts still waiting for payment, so
    // an authorized checkout's units stay held until settlement, and rewriting each
    // hold's expiry was a new row version and index entries per line.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH authorized AS (
             UPDATE checkouts SET payment_intent_id = $2, client_secret = NULL,
                    capture_before = now() + $3::interval, status = $4, updated_at = now()
             WHERE id = $1
         ), recorded AS (
             {insert} VALUES ($1, NULL, 'authorize', $7, $8, $2, 'succeeded', NULL, $9)
             {on_conflict}
         )
         INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
         VALUES ($1, NULL, $5, $4, $6, 'payment authorized')",
        insert = ledger::INSERT,
        on_conflict = ledger::ON_CONFLICT,
    )))
    .bind(&checkout.id)
    .bind(pi.id.as_str())
    .bind(AUTHORIZATION_LIFETIME)
    .bind(cs::AUTHORIZED)
    .bind(&checkout.status)
    .bind(actor)
    .bind(pi.amount_capturable)
    .bind(&checkout.currency)
    .bind(key::authorize(&checkout.id))
    .execute(&mut *conn)
    .await?;
    // Paid orders go straight to their store's way of buying, in this transaction.
    let routed = route::route(
        conn,
        Routing {
            checkout_id: &checkout.id,
            from: os::PENDING_PAYMENT,
            only: None,
            actor,
        },
    )
    .await?;
    if routed.is_empty() {
        // Every order was cancelled while the payment was on its way: nothing will be
        // placed, so settlement (which cancels the authorization) is due now. Its
        // trigger is the `order.cancelled` that came too early to settle anything.
        outbox::enqueue(
            conn,
            cancel::CANCELLED,
            &checkout.id,
            &json!({ "checkout_id": checkout.id }),
        )
        .await?;
    }
    Ok(())
}

async fn requires_action(
    conn: &mut PgConnection,
    checkout: &Checkout,
    pi: &PaymentIntent,
    actor: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE checkouts SET payment_intent_id = $2, client_secret = $3 WHERE id = $1")
        .bind(&checkout.id)
        .bind(pi.id.as_str())
        .bind(&pi.client_secret)
        .execute(&mut *conn)
        .await?;
    checkout::set_status(
        conn,
        checkout,
        cs::REQUIRES_ACTION,
        actor,
        Some("3-D Secure needed"),
    )
    .await?;
    outbox::enqueue(
        conn,
        "checkout.requires_action",
        &checkout.id,
        &json!({ "checkout_id": checkout.id }),
    )
    .await?;
    Ok(())
}

/// The payment will not happen: the checkout fails, its orders are cancelled and its
/// stock goes back.
pub async fn failed(
    conn: &mut PgConnection,
    checkout: &Checkout,
    reason: &str,
    decline_code: Option<&str>,
    actor: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE checkouts SET decline_code = $2, client_secret = NULL WHERE id = $1")
        .bind(&checkout.id)
        .bind(decline_code)
        .execute(&mut *conn)
        .await?;
    checkout::set_status(conn, checkout, cs::PAYMENT_FAILED, actor, Some(reason)).await?;
    stock::release_all(conn, &checkout.id).await?;
    checkout::move_orders(
        conn,
        &checkout.id,
        &[os::PENDING_PAYMENT],
        os::CANCELLED,
        actor,
        Some("payment failed"),
    )
    .await?;
    ledger::record(
        conn,
        ledger::Entry {
            checkout_id: &checkout.id,
            order_number: None,
            kind: "authorize",
            amount: checkout.total,
            currency: &checkout.currency,
            stripe_id: checkout.payment_intent_id.as_deref(),
            error: Some(decline_code.unwrap_or(reason)),
            idempotency_key: &key::authorize(&checkout.id),
        },
    )
    .await?;
    let payload =
        json!({ "checkout_id": checkout.id, "reason": reason, "decline_code": decline_code });
    outbox::enqueue(conn, "payment.failed", &checkout.id, &payload).await?;
    Ok(())
}

/// A checkout expired (its holds ran out before payment): an authorization made or
/// still possible for it (3-D Secure in progress) is cancelled at Stripe, so the
/// customer's card is not held for an order that will never be placed.
pub async fn on_expired(
    ctx: &mut Context,
    stripe: &Stripe,
    checkout_id: &str,
) -> Result<(), HandlerError> {
    let mut conn = ctx.pool().acquire().await?;
    let found = checkout::read(&mut conn, checkout_id).await?;
    drop(conn);
    let Some(found) = found else {
        return Err(HandlerError::Permanent(anyhow::anyhow!(
            "no checkout {checkout_id}"
        )));
    };
    let Some(pi_id) = found.payment_intent_id.as_deref() else {
        // No PaymentIntent yet: an authorization still in flight sees the expiry itself.
        return Ok(());
    };
    let pi = stripe.payment_intent(pi_id).await?;
    release_unwanted(ctx, stripe, &found, &pi).await
}

/// A PaymentIntent for a checkout that no longer wants it: cancel its authorization.
pub async fn release_unwanted(
    ctx: &mut Context,
    stripe: &Stripe,
    checkout: &Checkout,
    pi: &PaymentIntent,
) -> Result<(), HandlerError> {
    let cancellable = matches!(
        pi.status,
        PaymentIntentStatus::RequiresCapture | PaymentIntentStatus::RequiresAction
    );
    if cancellable {
        tracing::warn!(checkout_id = %checkout.id, status = %checkout.status, payment_intent = %pi.id,
            "payment for a checkout that is no longer waiting for it; cancelling the PaymentIntent");
        stripe.cancel(&checkout.id, pi.id.as_str()).await?;
        let mut tx = ctx.begin().await?;
        ledger::record(
            &mut tx,
            ledger::Entry {
                checkout_id: &checkout.id,
                order_number: None,
                kind: "cancel",
                amount: pi.amount,
                currency: &checkout.currency,
                stripe_id: Some(pi.id.as_str()),
                error: None,
                idempotency_key: &key::cancel(&checkout.id),
            },
        )
        .await?;
        ctx.commit(tx).await?;
    }
    Ok(())
}

/// Plain words for the customer (docs/events.md: `payment.failed`'s `reason`).
fn customer_reason(code: &str, message: &str) -> String {
    match code {
        "insufficient_funds" => "the card has insufficient funds".to_owned(),
        "expired_card" => "the card has expired".to_owned(),
        "incorrect_cvc" => "the card's security code is incorrect".to_owned(),
        "payment_intent_authentication_failure" => "the card could not be authenticated".to_owned(),
        _ if message.is_empty() => "the card was declined".to_owned(),
        _ => format!("the card was declined: {message}"),
    }
}
