//! Placement: the events that move an order from "paid for" to "bought at the
//! retailer", and the durable manual queue where a person does the buying.
//! docs/events.md is the contract; docs/architecture.md explains the leases.

pub mod cancel;
pub mod manual_queue;
pub mod queue_notice;
pub mod route;
pub mod tolerance;

use serde::{Deserialize, Serialize};

/// Event types of the placement stage.
pub mod events {
    pub const READY_FOR_PLACEMENT: &str = "order.ready_for_placement";
    pub const AUTOMATED_PLACEMENT: &str = "order.automated_placement";
    pub const MANUAL_PLACEMENT: &str = "order.manual_placement";
    pub const PLACED: &str = "order.placed";
    pub const FAILED: &str = "order.failed";
    pub const SHIPPED: &str = "order.shipped";
    pub const DELIVERED: &str = "order.delivered";
}

/// Why an order needs a person (`order.manual_placement`'s `reason`).
pub mod reason {
    pub const STORE_IS_MANUAL: &str = "store_is_manual";
    pub const ALL: [&str; 8] = [
        STORE_IS_MANUAL,
        "captcha",
        "page_changed",
        "out_of_stock",
        "price_changed",
        "sign_in_wall",
        "needs_verification",
        "automation_failed",
    ];
}

/// `order.ready_for_placement` and `order.automated_placement`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRef {
    pub checkout_id: String,
    pub order_number: String,
    pub store_id: String,
}

/// `order.manual_placement`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManualPlacement {
    pub checkout_id: String,
    pub order_number: String,
    pub store_id: String,
    pub reason: String,
}

/// `order.placed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed {
    pub checkout_id: String,
    pub order_number: String,
    pub store_id: String,
    pub store_order_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_paid: Option<i64>,
}

/// `order.failed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failed {
    pub checkout_id: String,
    pub order_number: String,
    pub store_id: String,
    pub reason: String,
}

/// `order.shipped`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shipped {
    pub checkout_id: String,
    pub order_number: String,
    pub tracking_number: String,
    pub carrier: String,
}

/// `order.delivered`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivered {
    pub checkout_id: String,
    pub order_number: String,
}

/// An order line's `options` (`order_items.options`, copied from its SKU at checkout) as
/// name → text. The API writes only text values; anything else a hand-edited row holds
/// is shown as its JSON rather than failing the read.
pub fn line_options(options: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    options
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}
