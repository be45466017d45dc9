//! The lifecycles of a checkout and of a store order, and the audit trail every change
//! of either writes.

use sqlx::PgConnection;

/// Statuses a checkout moves through. Later stages (payment, settlement) use the rest.
/// docs/events.md draws both lifecycles.
pub mod checkout {
    pub const PENDING: &str = "pending";
    pub const AUTHORIZED: &str = "authorized";
    /// 3-D Secure: waiting for the customer; a webhook moves it on.
    pub const REQUIRES_ACTION: &str = "requires_action";
    pub const PAYMENT_FAILED: &str = "payment_failed";
    /// Its holds ran out before payment was authorized.
    pub const EXPIRED: &str = "expired";
    /// Settled: the placed orders' sum was captured.
    pub const COMPLETED: &str = "completed";
    /// Settled: nothing was placed, the authorization was cancelled.
    pub const CANCELLED: &str = "cancelled";
}

pub mod order {
    pub const PENDING_PAYMENT: &str = "pending_payment";
    pub const READY_FOR_PLACEMENT: &str = "ready_for_placement";
    pub const AWAITING_MANUAL: &str = "awaiting_manual";
    pub const PLACING: &str = "placing";
    pub const PLACED: &str = "placed";
    pub const FAILED: &str = "failed";
    /// An automated attempt may or may not have bought it: a person must check.
    pub const NEEDS_VERIFICATION: &str = "needs_verification";
    pub const SHIPPED: &str = "shipped";
    pub const DELIVERED: &str = "delivered";
    pub const REFUNDED: &str = "refunded";
    pub const PARTIALLY_REFUNDED: &str = "partially_refunded";
    pub const CANCELLED: &str = "cancelled";

    /// Bought at the retailer: settlement captures these orders' totals.
    pub const BOUGHT: &[&str] = &[PLACED, SHIPPED, DELIVERED, REFUNDED, PARTIALLY_REFUNDED];
}

/// Who made a change, for the audit trail.
pub mod actor {
    pub const SYSTEM_REAPER: &str = "system:reaper";
    pub const PLACEMENT_ROUTER: &str = "system:placement-router";
    pub const PLACEMENT_MANUAL: &str = "system:placement-manual";
    pub const PLACEMENT_SWEEP: &str = "system:placement-sweep";
    pub const QUEUE_NOTICE: &str = "system:queue-notice";

    pub fn api_key(principal: &str) -> String {
        format!("key:{principal}")
    }
}

/// One audit row. `order_number` is `None` for a change of the checkout itself.
pub struct Transition<'a> {
    pub checkout_id: &'a str,
    pub order_number: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

pub async fn record(tx: &mut PgConnection, t: Transition<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO status_history (checkout_id, order_number, from_status, to_status, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.checkout_id)
    .bind(t.order_number)
    .bind(t.from)
    .bind(t.to)
    .bind(t.actor)
    .bind(t.reason)
    .execute(tx)
    .await?;
    Ok(())
}
