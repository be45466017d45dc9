//! The manual-queue intake (queue `placement-manual`, fed by `order.manual_placement`
//! from the router and the browser worker): puts the order into the durable manual
//! queue (idempotently: a redelivery finds it there), sets `awaiting_manual`, and
//! tells ops (a log line and an ops_audit row).

use anyhow::anyhow;
use cartwright_shared::placement::manual_queue::{self, Enqueued, PlacementError};
use cartwright_shared::placement::{ManualPlacement, events};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::status::actor;

use crate::context::WorkerContext;

pub struct ManualIntake;

pub async fn run(ctx: WorkerContext) {
    cartwright_shared::queue::handler::run(
        ManualIntake,
        ctx.pool,
        &ctx.broker,
        ctx.topology,
        ctx.shutdown,
    )
    .await;
}

impl Handler for ManualIntake {
    fn queue(&self) -> WorkQueue {
        work_queues::placement_manual()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let payload: ManualPlacement =
            serde_json::from_value(message.payload.clone()).map_err(|e| {
                HandlerError::Permanent(anyhow!("bad {} payload: {e}", events::MANUAL_PLACEMENT))
            })?;
        if payload.reason.trim().is_empty() {
            return Err(HandlerError::Permanent(anyhow!(
                "order.manual_placement without a reason"
            )));
        }
        let mut tx = ctx.begin().await?;
        let outcome = manual_queue::enqueue(&mut tx, &payload, actor::PLACEMENT_MANUAL)
            .await
            .map_err(|err| match err {
                PlacementError::Database(e) => HandlerError::from(e),
                other => HandlerError::Permanent(other.into()),
            })?;
        ctx.commit(tx).await?;
        match outcome {
            Enqueued::Queued => tracing::warn!(
                order = %payload.order_number, store = %payload.store_id, reason = %payload.reason,
                "ops: an order is waiting in the manual placement queue"
            ),
            Enqueued::AlreadyQueued => {
                tracing::info!(order = %payload.order_number, "already in the manual queue")
            }
            Enqueued::NotPlaceable(status) => tracing::warn!(
                order = %payload.order_number, %status,
                "order.manual_placement for an order past placement; ignored"
            ),
        }
        Ok(())
    }
}
