//! The objects the emulator stores, each able to render itself in Stripe's JSON shape.

pub mod charge;
pub mod dispute;
pub mod event;
pub mod payment_intent;
pub mod refund;
pub mod webhook_endpoint;

pub use charge::Charge;
pub use dispute::Dispute;
pub use event::Event;
pub use payment_intent::{PaymentIntent, Status};
pub use refund::Refund;
pub use webhook_endpoint::WebhookEndpoint;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Stripe's metadata: string keys to string values.
pub type Metadata = BTreeMap<String, String>;

pub fn metadata_json(metadata: &Metadata) -> Value {
    Value::Object(
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}
