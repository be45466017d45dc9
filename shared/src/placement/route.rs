//! Routing paid orders to their store's way of buying, in the caller's transaction: the
//! store's `placement_mode`, read as the order is routed, decides. `automated` → status
//! `placing` and `order.automated_placement` for the browser worker; `manual` → status
//! `awaiting_manual` and a waiting row in the manual queue, at once, with its
//! `placement.queued` audit row.
//!
//! The payment worker routes a checkout's orders in the transaction that records the
//! authorization, so a paid order reaches ops or the browser worker without two more
//! hops through the broker (issue 15: they were four messages and four transactions per
//! order). The placement router uses the same function for `order.ready_for_placement`
//! messages that are still in its queue.

use sqlx::PgConnection;

use super::{OrderRef, events, manual_queue, reason};
use crate::outbox;
use crate::status::order;

/// What to route: the orders of `checkout_id` in status `from`, or only `only` of them.
pub struct Routing<'a> {
    pub checkout_id: &'a str,
    pub from: &'a str,
    pub only: Option<&'a str>,
    pub actor: &'a str,
}

/// One routed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub order_number: String,
    pub store_id: String,
    /// `automated` or `manual`.
    pub mode: String,
}

/// Why an automated order goes to the browser worker (its audit row's reason).
const AUTOMATED: &str = "store places automatically";

/// Moves the orders, writes their audit rows and their queue rows or events, in four
/// statements whatever the number of orders (plus one outbox row per automated order).
pub async fn route(tx: &mut PgConnection, r: Routing<'_>) -> sqlx::Result<Vec<Routed>> {
    let routed: Vec<(String, String, String)> = sqlx::query_as(
        "WITH moved AS (
             UPDATE orders o
             SET status = CASE s.placement_mode WHEN 'automated' THEN $4 ELSE $5 END,
                 updated_at = now()
             FROM stores s
             WHERE o.checkout_id = $1 AND o.status = $2 AND ($3::TEXT IS NULL OR o.number = $3)
               AND s.id = o.store_id
             RETURNING o.number, o.store_id, o.status, s.placement_mode
         ), history AS (
             INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
             SELECT $1, number, $2, status, $6,
                    CASE placement_mode WHEN 'automated' THEN $7 ELSE $8 END
             FROM moved ORDER BY number
         ), queued AS (
             INSERT INTO manual_placements (order_number, checkout_id, store_id, reason)
             SELECT number, $1, store_id, $8 FROM moved WHERE placement_mode = 'manual'
             ORDER BY number
         ), audited AS (
             INSERT INTO ops_audit (actor, action, target, detail)
             SELECT $6, $9, 'order:' || number,
                    jsonb_build_object('reason', $8::TEXT, 'store', store_id)
             FROM moved WHERE placement_mode = 'manual' ORDER BY number
         )
         SELECT number, store_id, placement_mode FROM moved ORDER BY number",
    )
    .bind(r.checkout_id)
    .bind(r.from)
    .bind(r.only)
    .bind(order::PLACING)
    .bind(order::AWAITING_MANUAL)
    .bind(r.actor)
    .bind(AUTOMATED)
    .bind(reason::STORE_IS_MANUAL)
    .bind(manual_queue::QUEUED_ACTION)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(routed.len());
    for (order_number, store_id, mode) in routed {
        if mode == "automated" {
            let message = OrderRef {
                checkout_id: r.checkout_id.to_owned(),
                order_number: order_number.clone(),
                store_id: store_id.clone(),
            };
            outbox::enqueue(tx, events::AUTOMATED_PLACEMENT, r.checkout_id, &message).await?;
        } else {
            tracing::warn!(order = %order_number, store = %store_id, reason = reason::STORE_IS_MANUAL,
                "ops: an order is waiting in the manual placement queue");
        }
        out.push(Routed {
            order_number,
            store_id,
            mode,
        });
    }
    Ok(out)
}
