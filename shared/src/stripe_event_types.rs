//! The Stripe event types Cartwright acts on. The webhook endpoint stores every verified
//! event, but hands only these to the stripe-events worker: Stripe sends several events
//! per payment (`payment_intent.created`, `charge.succeeded`, …), and each one handed on
//! costs a message, a relay publish and a worker transaction for nothing.

/// A PaymentIntent moved: the worker re-reads it and moves its checkout.
pub const PAYMENT_INTENT: [&str; 5] = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
];

/// The checkout statuses a PaymentIntent event can still move a checkout out of: waiting
/// for payment, or expired (its PaymentIntent may need cancelling). A PaymentIntent
/// event for a checkout in any other status changes nothing, so it needs no handling.
pub const CHECKOUT_WAITING: [&str; 3] = [
    crate::status::checkout::PENDING,
    crate::status::checkout::REQUIRES_ACTION,
    crate::status::checkout::EXPIRED,
];

pub const DISPUTE_CREATED: &str = "charge.dispute.created";

pub const CHARGE_REFUNDED: &str = "charge.refunded";

/// Every type the stripe-events worker does something with: what a Stripe webhook
/// endpoint for Cartwright subscribes to (`enabled_events`), so Stripe does not send
/// the others at all (`cartwright stripe-webhook-events` prints them).
pub fn handled() -> impl Iterator<Item = &'static str> {
    PAYMENT_INTENT
        .into_iter()
        .chain([DISPUTE_CREATED, CHARGE_REFUNDED])
}

/// Whether the stripe-events worker does anything with this type.
pub fn is_handled(event_type: &str) -> bool {
    handled().any(|t| t == event_type)
}

/// The message that hands a stored event to the stripe-events worker.
pub const RECEIVED: &str = "stripe.event.received";

/// An outbox insert of the [`RECEIVED`] message for each row of `from` (a table or CTE
/// with the stored event's `id`, `type` and `object_id`, plus any `WHERE`), with
/// `message_id` as its id expression: the webhook's statement and the parked events'
/// sweep write the one payload the worker reads.
pub fn queue_received(message_id: &str, from: &str) -> String {
    format!(
        "{insert} SELECT {message_id}, '{RECEIVED}', id,
                jsonb_build_object('event_id', id, 'type', type, 'object_id', object_id)
         FROM {from}",
        insert = crate::outbox::INSERT
    )
}
