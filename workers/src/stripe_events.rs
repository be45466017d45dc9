//! Applies verified Stripe webhook events. An event is only a hint: the worker re-reads
//! the object from Stripe and moves the checkout to where Stripe says it stands now, so
//! duplicate, late or out-of-order events change nothing wrongly.

use anyhow::anyhow;
use cartwright_shared::ops_audit::{self, Target};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::status::{self, Transition};
use cartwright_shared::stripe_event_types as types;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

use crate::context::WorkerContext;
use crate::payments::stripe::{self as stripe_api, Stripe};
use crate::payments::{authorize, checkout, payload};

/// Who webhook-driven changes are attributed to.
pub const ACTOR: &str = "system:stripe-webhook";

#[derive(Deserialize)]
struct Received {
    event_id: String,
    #[serde(rename = "type")]
    event_type: String,
    object_id: Option<String>,
}

pub struct StripeEvents {
    pub stripe: Stripe,
}

impl Handler for StripeEvents {
    fn queue(&self) -> WorkQueue {
        work_queues::stripe_events()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let event: Received = payload(message)?;
        let Some(object_id) = event.object_id.as_deref() else {
            return Ok(());
        };
        match event.event_type.as_str() {
            t if types::PAYMENT_INTENT.contains(&t) => self.payment_intent(ctx, object_id).await,
            types::DISPUTE_CREATED => self.dispute(ctx, &event.event_id, object_id).await,
            types::CHARGE_REFUNDED => {
                // Cartwright's own refunds are recorded by the job that makes them.
                tracing::info!(event_id = %event.event_id, charge = object_id, "charge refunded");
                Ok(())
            }
            other => {
                tracing::debug!(event_id = %event.event_id, event_type = other, "event not used");
                Ok(())
            }
        }
    }
}

impl StripeEvents {
    async fn payment_intent(&self, ctx: &mut Context, id: &str) -> Result<(), HandlerError> {
        if self.already_applied(ctx, id).await? {
            return Ok(());
        }
        let pi = self.stripe.payment_intent(id).await?;
        let mut tx = ctx.begin().await?;
        let checkout_id = match pi.metadata.get("checkout_id") {
            Some(id) => Some(id.clone()),
            None => checkout::by_payment_intent(&mut tx, id).await?,
        };
        let Some(checkout_id) = checkout_id else {
            tracing::warn!(payment_intent = id, "PaymentIntent of no known checkout");
            return Ok(());
        };
        let Some(current) = checkout::lock(&mut tx, &checkout_id).await? else {
            tracing::warn!(
                payment_intent = id,
                checkout_id,
                "PaymentIntent of no known checkout"
            );
            return Ok(());
        };
        // Another PaymentIntent than the checkout's (never ours to act on).
        if current
            .payment_intent_id
            .as_deref()
            .is_some_and(|own| own != id)
        {
            return Ok(());
        }
        // Found through its metadata alone, it must ask what the checkout owes: anyone
        // can write a checkout id into a PaymentIntent's metadata.
        if !stripe_api::pays_for(&pi, current.total, &current.currency) {
            tracing::warn!(payment_intent = id, checkout_id, amount = pi.amount, currency = %pi.currency,
                total = current.total, checkout_currency = %current.currency,
                "PaymentIntent names a checkout but not its amount and currency; not ours to use");
            return Ok(());
        }
        if current.status == status::checkout::EXPIRED {
            // 3-D Secure finished after the holds ran out: nothing to pay for any more.
            drop(tx);
            return authorize::release_unwanted(ctx, &self.stripe, &current, &pi).await;
        }
        authorize::apply_intent(&mut tx, &current, &pi, ACTOR).await?;
        ctx.commit(tx).await?;
        Ok(())
    }

    /// Whether the PaymentIntent's checkout is already past waiting for payment, so that
    /// `apply_intent` could change nothing whatever Stripe says now: then the event needs
    /// neither a call to Stripe nor a transaction, and the statement that finds it out
    /// records the message in the inbox too. The webhook applies the same rule before
    /// queuing, so this catches the checkouts that moved on while the event was queued.
    /// A checkout not yet linked to the PaymentIntent (the event came first), waiting, or
    /// expired (the PaymentIntent may need cancelling) takes the full path.
    async fn already_applied(&self, ctx: &mut Context, id: &str) -> Result<bool, HandlerError> {
        let (consumer, message_id) = ctx.inbox_row();
        let applied: bool = sqlx::query_scalar(
            "WITH found AS (
                 SELECT EXISTS (SELECT 1 FROM checkouts
                                WHERE payment_intent_id = $1 AND status <> ALL($2)) AS applied
             ), recorded AS (
                 INSERT INTO inbox (consumer, message_id) SELECT $3, $4 FROM found WHERE applied
                 ON CONFLICT DO NOTHING
             )
             SELECT applied FROM found",
        )
        .bind(id)
        .bind(&types::CHECKOUT_WAITING[..])
        .bind(consumer)
        .bind(message_id)
        .fetch_one(ctx.pool())
        .await?;
        if applied {
            ctx.recorded();
        }
        Ok(applied)
    }

    /// A dispute opened: every bought order of the checkout is flagged for ops.
    async fn dispute(
        &self,
        ctx: &mut Context,
        event_id: &str,
        dispute: &str,
    ) -> Result<(), HandlerError> {
        let Some(pi) = self.stripe.disputed_payment_intent(dispute).await? else {
            return Err(HandlerError::Permanent(anyhow!(
                "dispute {dispute} names no PaymentIntent"
            )));
        };
        let mut tx = ctx.begin().await?;
        let Some(checkout_id) = checkout::by_payment_intent(&mut tx, &pi).await? else {
            tracing::warn!(dispute, payment_intent = %pi, "dispute on no known checkout");
            return Ok(());
        };
        let orders: Vec<(String, String)> = sqlx::query_as(
            "SELECT number, status FROM orders WHERE checkout_id = $1 AND status = ANY($2) ORDER BY number",
        )
        .bind(&checkout_id)
        .bind(cartwright_shared::status::order::BOUGHT)
        .fetch_all(&mut *tx)
        .await?;
        let reason = format!("Stripe dispute {dispute} opened: ops must respond");
        for (number, current) in &orders {
            status::record(
                &mut tx,
                Transition {
                    checkout_id: &checkout_id,
                    order_number: Some(number),
                    from: Some(current),
                    to: current,
                    actor: ACTOR,
                    reason: Some(&reason),
                },
            )
            .await?;
        }
        let numbers: Vec<&str> = orders.iter().map(|(n, _)| n.as_str()).collect();
        ops_audit::record(
            &mut tx,
            ACTOR,
            "stripe.dispute_opened",
            Target::Checkout(&checkout_id),
            json!({ "dispute": dispute, "event_id": event_id, "payment_intent": pi, "orders": numbers }),
        )
        .await?;
        tracing::warn!(
            checkout_id,
            dispute,
            "Stripe dispute opened; flagged for ops"
        );
        ctx.commit(tx).await?;
        Ok(())
    }
}

/// How often [`sweep_parked`] looks for parked events that are due.
pub const PARKED_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Takes the parked events (see `stripe_events_parked`) that are due: each whose
/// PaymentIntent's checkout is still waiting for payment (or none is linked to it yet)
/// goes to the worker, and the others are dropped, by the rule of
/// `StripeEvents::already_applied`. Safe with several workers running it at once.
/// Returns how many were handed on and how many dropped.
pub async fn release_parked(pool: &PgPool) -> sqlx::Result<(i64, i64)> {
    // Message ids from gen_random_uuid, not UUIDv7: only the rare event of a payment job
    // that never finished is queued here, so the inbox index's locality does not suffer.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH due AS (
             DELETE FROM stripe_events_parked
             WHERE event_id IN (SELECT event_id FROM stripe_events_parked WHERE due_at <= now()
                                ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
             RETURNING event_id
         ), events AS (
             -- A scalar subquery, one index look-up per event: as NOT EXISTS the planner
             -- hashed every checkout once per sweep, a scan that grew with the table.
             SELECT e.id, e.type, e.object_id,
                    COALESCE((SELECT c.status = ANY($1) FROM checkouts c
                              WHERE c.payment_intent_id = e.object_id), TRUE) AS wanted
             FROM due JOIN stripe_events e ON e.id = due.event_id
         ), queued AS ({queue} RETURNING 1)
         SELECT (SELECT count(*) FROM queued), (SELECT count(*) FROM events WHERE NOT wanted)",
        queue = types::queue_received("gen_random_uuid()", "events WHERE wanted")
    )))
    .bind(&types::CHECKOUT_WAITING[..])
    .fetch_one(pool)
    .await
}

/// [`release_parked`] every [`PARKED_SWEEP_EVERY`] until shutdown.
pub async fn sweep_parked(pool: PgPool, shutdown: Shutdown) {
    crate::scheduler::every(PARKED_SWEEP_EVERY, shutdown, || async {
        match release_parked(&pool).await {
            Ok((0, _)) => {}
            Ok((handed_on, dropped)) => tracing::info!(
                handed_on,
                dropped,
                "parked Stripe events whose checkout still waits handed to the worker"
            ),
            // The next tick tries again; a database outage must not kill the worker.
            Err(err) => tracing::warn!(error = %err, "parked Stripe events sweep failed"),
        }
    })
    .await;
}

pub async fn run(ctx: WorkerContext) {
    match Stripe::new(&ctx.config.stripe) {
        Ok(stripe) => {
            tokio::join!(
                cartwright_shared::queue::handler::run(
                    StripeEvents { stripe },
                    ctx.pool.clone(),
                    &ctx.broker,
                    ctx.topology,
                    ctx.shutdown.clone(),
                ),
                sweep_parked(ctx.pool, ctx.shutdown),
            );
        }
        Err(err) => tracing::error!(error = %err, "stripe-events worker cannot start"),
    }
}
