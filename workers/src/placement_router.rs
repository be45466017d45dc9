//! The placement router (queue `placement-router`, fed by `order.ready_for_placement`).
//! The payment worker now routes a checkout's orders itself when it records the
//! authorization (`placement::route`); this worker routes, the same way, an
//! `order.ready_for_placement` still in its queue from before that change, or replayed
//! from the dead letters. An order no longer `ready_for_placement` is left alone.

use anyhow::anyhow;
use cartwright_shared::placement::route::{self, Routing};
use cartwright_shared::placement::{OrderRef, events};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::status::{actor, order};

use crate::context::WorkerContext;

pub struct Router;

pub async fn run(ctx: WorkerContext) {
    cartwright_shared::queue::handler::run(
        Router,
        ctx.pool,
        &ctx.broker,
        ctx.topology,
        ctx.shutdown,
    )
    .await;
}

impl Handler for Router {
    fn queue(&self) -> WorkQueue {
        work_queues::placement_router()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let payload: OrderRef = serde_json::from_value(message.payload.clone()).map_err(|e| {
            HandlerError::Permanent(anyhow!("bad {} payload: {e}", events::READY_FOR_PLACEMENT))
        })?;
        let mut tx = ctx.begin().await?;
        let routed = route::route(
            &mut tx,
            Routing {
                checkout_id: &payload.checkout_id,
                from: order::READY_FOR_PLACEMENT,
                only: Some(&payload.order_number),
                actor: actor::PLACEMENT_ROUTER,
            },
        )
        .await?;
        ctx.commit(tx).await?;
        match routed.first() {
            Some(r) => {
                tracing::info!(order = %r.order_number, store = %r.store_id, mode = %r.mode, "order routed")
            }
            // Already routed (a replay) or cancelled meanwhile: nothing to do.
            None => {
                tracing::info!(order = %payload.order_number, "not ready for placement; not routed")
            }
        }
        Ok(())
    }
}
