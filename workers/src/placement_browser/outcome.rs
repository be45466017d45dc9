//! Writing down how an attempt ended: the attempt row, the order's new status, its audit
//! row and the event (`order.placed` or `order.manual_placement`), in one transaction;
//! or, for a failure worth another try, the attempt abandoned and the message retried.

use cartwright_shared::outbox;
use cartwright_shared::placement::tolerance;
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, HandlerError};
use cartwright_shared::status::{self, Transition, order};
use serde::Serialize;

use super::attempts::{self, Finish, OrderToPlace};
use super::execute::{Evidence, Stop};
use super::{ACTOR, BrowserPlacement, Ending};

#[derive(Serialize)]
struct ManualPlacement<'a> {
    checkout_id: &'a str,
    order_number: &'a str,
    store_id: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct OrderPlaced<'a> {
    checkout_id: &'a str,
    order_number: &'a str,
    store_id: &'a str,
    store_order_number: &'a str,
    total_paid: i64,
}

impl BrowserPlacement {
    /// A failure before the final click: another delivery later, or, on the last one,
    /// the manual queue.
    pub(super) async fn retry_or_manual(
        &self,
        ctx: &mut Context,
        message: &Envelope,
        order: &OrderToPlace,
        attempt: i64,
        stop: Stop,
        evidence: Evidence,
    ) -> Result<(), HandlerError> {
        let Stop::Transient(error) = &stop else {
            return self
                .resolve(ctx, order, attempt, Ending::Stopped(stop), evidence)
                .await;
        };
        if message.attempt + 1 < self.inner.max_attempts {
            let mut conn = ctx.pool().acquire().await?;
            attempts::finish(
                &mut conn,
                attempt,
                Finish {
                    state: "abandoned",
                    reason: None,
                    error: Some(error),
                    store_order_number: None,
                    store_total: None,
                    evidence: &evidence,
                },
            )
            .await?;
            return Err(HandlerError::Transient(anyhow::anyhow!("{error}")));
        }
        let stop = Stop::Refused {
            reason: "automation_failed",
            detail: format!("{} tries failed; the last: {error}", message.attempt + 1),
        };
        self.resolve(ctx, order, attempt, Ending::Stopped(stop), evidence)
            .await
    }

    /// Writes the attempt's end, the order's new status, its audit row and the event,
    /// in one transaction.
    pub(super) async fn resolve(
        &self,
        ctx: &mut Context,
        order: &OrderToPlace,
        attempt: i64,
        outcome: Ending,
        evidence: Evidence,
    ) -> Result<(), HandlerError> {
        let mut tx = ctx.begin().await?;
        // The order's row first, then the attempt's: the capture-deadline guard takes
        // them in that order too, so the two never deadlock.
        sqlx::query("SELECT 1 FROM orders WHERE number = $1 FOR UPDATE")
            .bind(&order.number)
            .execute(&mut *tx)
            .await?;
        let (state, to, reason, error, placed) = match &outcome {
            Ending::Placed(placed) => ("placed", order::PLACED, None, None, Some(placed)),
            Ending::Withdrawn(why) => {
                tracing::info!(order = %order.number, why = %why, "not clicking the final button");
                attempts::finish(
                    &mut tx,
                    attempt,
                    Finish {
                        state: "abandoned",
                        reason: None,
                        error: Some(why),
                        store_order_number: None,
                        store_total: None,
                        evidence: &evidence,
                    },
                )
                .await?;
                ctx.commit(tx).await?;
                return Ok(());
            }
            Ending::Stopped(Stop::Uncertain(detail)) => (
                "needs_verification",
                order::NEEDS_VERIFICATION,
                Some("needs_verification"),
                Some(detail.as_str()),
                None,
            ),
            Ending::Stopped(Stop::Refused { reason, detail }) => (
                "abandoned",
                order::AWAITING_MANUAL,
                Some(*reason),
                Some(detail.as_str()),
                None,
            ),
            Ending::Stopped(Stop::Transient(detail)) => (
                "abandoned",
                order::AWAITING_MANUAL,
                Some("automation_failed"),
                Some(detail.as_str()),
                None,
            ),
        };
        attempts::finish(
            &mut tx,
            attempt,
            Finish {
                state,
                reason,
                error,
                store_order_number: placed.map(|p| p.store_order_number.as_str()),
                store_total: placed.map(|p| p.total),
                evidence: &evidence,
            },
        )
        .await?;
        let moved = sqlx::query(
            "UPDATE orders SET status = $2, store_order_number = COALESCE($3, store_order_number),
                    updated_at = now()
             WHERE number = $1 AND status = $4",
        )
        .bind(&order.number)
        .bind(to)
        .bind(placed.map(|p| p.store_order_number.as_str()))
        .bind(order::PLACING)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 1 {
            status::record(
                &mut tx,
                Transition {
                    checkout_id: &order.checkout_id,
                    order_number: Some(&order.number),
                    from: Some(order::PLACING),
                    to,
                    actor: ACTOR,
                    reason: reason.or(Some("placed by the browser worker")),
                },
            )
            .await?;
            match placed {
                Some(p) => {
                    tolerance::record_total_paid(
                        &mut tx,
                        &order.checkout_id,
                        &order.number,
                        p.total,
                        ACTOR,
                    )
                    .await?;
                    outbox::enqueue(
                        &mut tx,
                        "order.placed",
                        &order.checkout_id,
                        &OrderPlaced {
                            checkout_id: &order.checkout_id,
                            order_number: &order.number,
                            store_id: &order.store_id,
                            store_order_number: &p.store_order_number,
                            total_paid: p.total,
                        },
                    )
                    .await?;
                }
                None => {
                    outbox::enqueue(
                        &mut tx,
                        "order.manual_placement",
                        &order.checkout_id,
                        &ManualPlacement {
                            checkout_id: &order.checkout_id,
                            order_number: &order.number,
                            store_id: &order.store_id,
                            reason: reason.unwrap_or("automation_failed"),
                        },
                    )
                    .await?;
                }
            }
        } else {
            tracing::warn!(order = %order.number, "the order left `placing` meanwhile; attempt recorded only");
        }
        ctx.commit(tx).await?;
        tracing::info!(order = %order.number, outcome = state, reason = ?reason, "automated placement finished");
        Ok(())
    }
}
