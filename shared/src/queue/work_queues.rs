//! The kinds of work, one quorum queue each, and the event types bound to each.
//! A worker's own issue adds the bindings it consumes; an event no queue is bound to
//! goes to the unrouted queue (the exchange's alternate), never nowhere.

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

pub fn payments() -> WorkQueue {
    WorkQueue::new("payments", &["checkout.submitted"])
}
pub fn placement_router() -> WorkQueue {
    WorkQueue::new("placement-router", &[])
}
pub fn placement_browser() -> WorkQueue {
    WorkQueue::new("placement-browser", &[])
}
pub fn placement_manual() -> WorkQueue {
    WorkQueue::new("placement-manual", &[])
}
pub fn emails() -> WorkQueue {
    WorkQueue::new("emails", &[])
}
pub fn alerts() -> WorkQueue {
    WorkQueue::new("alerts", &[])
}
pub fn stripe_events() -> WorkQueue {
    WorkQueue::new("stripe-events", &[])
}

/// Every work queue, declared by the relay so that nothing it publishes can miss a
/// queue whose worker has not started yet.
pub fn all() -> Vec<WorkQueue> {
    vec![
        payments(),
        placement_router(),
        placement_browser(),
        placement_manual(),
        emails(),
        alerts(),
        stripe_events(),
    ]
}
