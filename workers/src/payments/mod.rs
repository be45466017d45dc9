//! The payment worker: authorizes a submitted checkout, settles it (partial capture or
//! cancel) when every order is terminal, and makes the refunds ops ask for. Stripe calls
//! happen outside any database transaction; each is keyed (see [`stripe::key`]) so a job
//! that runs again after a crash or a retry has its effect at Stripe once.

pub mod authorize;
pub mod checkout;
pub mod deadline;
pub mod ledger;
pub mod refund;
pub mod settle;
pub mod stock;
pub mod stripe;
mod stripe_client;

use anyhow::anyhow;
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use serde::de::DeserializeOwned;

use self::stripe::Stripe;
use crate::context::WorkerContext;

/// Who payment changes are attributed to in the audit trail.
pub const ACTOR: &str = "system:payments";

pub struct Payments {
    pub stripe: Stripe,
}

impl Handler for Payments {
    fn queue(&self) -> WorkQueue {
        work_queues::payments()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        match message.message_type.as_str() {
            "checkout.submitted" => {
                let event: authorize::Submitted = payload(message)?;
                authorize::run(ctx, &self.stripe, &event.checkout_id).await
            }
            "checkout.expired" => {
                let event: authorize::Submitted = payload(message)?;
                authorize::on_expired(ctx, &self.stripe, &event.checkout_id).await
            }
            "order.placed" | "order.failed" | cartwright_shared::placement::cancel::CANCELLED => {
                let event: settle::OrderSettled = payload(message)?;
                settle::on_order_event(ctx, &self.stripe, &event.checkout_id).await
            }
            "refund.requested" => {
                let event: refund::Requested = payload(message)?;
                refund::run(ctx, &self.stripe, &event).await
            }
            other => Err(HandlerError::Permanent(anyhow!(
                "the payments queue does not handle {other}"
            ))),
        }
    }
}

/// A message's payload, or a permanent failure naming what is wrong with it.
pub fn payload<T: DeserializeOwned>(message: &Envelope) -> Result<T, HandlerError> {
    serde_json::from_value(message.payload.clone())
        .map_err(|e| HandlerError::Permanent(anyhow!("{} payload: {e}", message.message_type)))
}

pub async fn run(ctx: WorkerContext) {
    match Stripe::new(&ctx.config.stripe) {
        Ok(stripe) => {
            cartwright_shared::queue::handler::run(
                Payments { stripe },
                ctx.pool,
                &ctx.broker,
                ctx.topology,
                ctx.shutdown,
            )
            .await;
        }
        Err(err) => tracing::error!(error = %err, "payments worker cannot start"),
    }
}
