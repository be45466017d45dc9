//! The placement router (queue `placement-router`, fed by `order.ready_for_placement`):
//! sends each order by its store's placement mode, read when the order is routed, so a
//! store switched between two orders sends the next one the new way.
//! `automated` → status `placing`, `order.automated_placement` (the browser worker);
//! `manual` → `order.manual_placement` with reason `store_is_manual` (the intake worker
//! puts it into the manual queue and sets `awaiting_manual`).

use anyhow::anyhow;
use cartwright_shared::outbox;
use cartwright_shared::placement::{ManualPlacement, OrderRef, events, reason};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::status::{self, Transition, actor, order};

use crate::context::WorkerContext;

pub struct Router;

pub async fn run(ctx: WorkerContext) {
    cartwright_shared::queue::handler::run(
        Router,
        ctx.pool,
        &ctx.config.broker,
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
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT o.status, o.checkout_id, o.store_id, s.placement_mode
             FROM orders o JOIN stores s ON s.id = o.store_id
             WHERE o.number = $1 FOR UPDATE OF o",
        )
        .bind(&payload.order_number)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((current, checkout_id, store_id, mode)) = row else {
            return Err(HandlerError::Permanent(anyhow!(
                "order {} does not exist",
                payload.order_number
            )));
        };
        if current != order::READY_FOR_PLACEMENT {
            // Already routed (a replay) or cancelled meanwhile: nothing to do.
            tracing::info!(order = %payload.order_number, status = %current, "not ready for placement; not routed");
            ctx.commit(tx).await?;
            return Ok(());
        }
        let order_ref = OrderRef {
            checkout_id: checkout_id.clone(),
            order_number: payload.order_number.clone(),
            store_id: store_id.clone(),
        };
        if mode == "automated" {
            sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE number = $1")
                .bind(&payload.order_number)
                .bind(order::PLACING)
                .execute(&mut *tx)
                .await?;
            status::record(
                &mut tx,
                Transition {
                    checkout_id: &checkout_id,
                    order_number: Some(&payload.order_number),
                    from: Some(&current),
                    to: order::PLACING,
                    actor: actor::PLACEMENT_ROUTER,
                    reason: Some("store places automatically"),
                },
            )
            .await?;
            outbox::enqueue(
                &mut tx,
                events::AUTOMATED_PLACEMENT,
                &checkout_id,
                &order_ref,
            )
            .await?;
        } else {
            outbox::enqueue(
                &mut tx,
                events::MANUAL_PLACEMENT,
                &checkout_id,
                &ManualPlacement {
                    checkout_id: order_ref.checkout_id.clone(),
                    order_number: order_ref.order_number.clone(),
                    store_id: order_ref.store_id.clone(),
                    reason: reason::STORE_IS_MANUAL.to_owned(),
                },
            )
            .await?;
        }
        ctx.commit(tx).await?;
        tracing::info!(order = %payload.order_number, store = %store_id, %mode, "order routed");
        Ok(())
    }
}
