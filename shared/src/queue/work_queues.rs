//! The kinds of work, one quorum queue each, and the event types bound to each (the
//! contract is docs/events.md). An event no queue is bound to goes to the unrouted
//! queue (the exchange's alternate), never nowhere.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueue {
    /// Without the prefix, e.g. `payments`.
    pub name: String,
    /// Routing keys (event types) from the events exchange that feed it.
    pub bindings: Vec<String>,
}

impl WorkQueue {
    pub fn new(name: &str, bindings: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
        }
    }
}

/// Authorize, settle (capture or cancel), refund, let go of an expired checkout's
/// authorization.
pub fn payments() -> WorkQueue {
    WorkQueue::new(
        "payments",
        &[
            "checkout.submitted",
            "checkout.expired",
            "order.placed",
            "order.failed",
            crate::placement::cancel::CANCELLED,
            "refund.requested",
        ],
    )
}
/// Verified Stripe webhook events, applied by re-reading the object from Stripe.
pub fn stripe_events() -> WorkQueue {
    WorkQueue::new("stripe-events", &["stripe.event.received"])
}
/// Sends each order ready for placement to its store's mode.
pub fn placement_router() -> WorkQueue {
    WorkQueue::new("placement-router", &["order.ready_for_placement"])
}
/// Orders the browser worker buys on the retailer's site.
pub fn placement_browser() -> WorkQueue {
    WorkQueue::new("placement-browser", &["order.automated_placement"])
}
/// Orders that go to the ops team's manual queue (from the router or from automation).
pub fn placement_manual() -> WorkQueue {
    WorkQueue::new("placement-manual", &["order.manual_placement"])
}
/// Customer emails.
pub fn emails() -> WorkQueue {
    WorkQueue::new(
        "emails",
        &[
            "checkout.submitted",
            "payment.failed",
            "order.placed",
            "order.failed",
            crate::placement::cancel::CANCELLED,
            "order.shipped",
            "payment.refunded",
            "checkout.completed",
        ],
    )
}
/// Alerts to ops: low stock, and the ops alerts of `crate::ops_alert`.
pub fn alerts() -> WorkQueue {
    WorkQueue::new("alerts", &["stock.low", crate::ops_alert::EVENT])
}

/// Every work queue, declared by the relay so that nothing it publishes can miss a
/// queue whose worker has not started yet.
pub fn all() -> Vec<WorkQueue> {
    vec![
        payments(),
        stripe_events(),
        placement_router(),
        placement_browser(),
        placement_manual(),
        emails(),
        alerts(),
    ]
}
