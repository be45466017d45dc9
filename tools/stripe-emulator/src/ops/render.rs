//! Rendering stored objects with the `expand[]` the request asked for, and id lookups.

use serde_json::Value;

use crate::cards;
use crate::error::ApiError;
use crate::model::{Charge, PaymentIntent, Refund};
use crate::store::Store;

fn wants(expand: &[String], field: &str) -> bool {
    expand.iter().any(|e| e == field)
}

/// A PaymentIntent; expandable: `latest_charge`, `payment_method`.
pub fn intent(store: &Store, pi: &PaymentIntent, expand: &[String]) -> Value {
    let charge = wants(expand, "latest_charge")
        .then(|| {
            pi.latest_charge
                .as_deref()
                .and_then(|id| store.charges.get(id))
        })
        .flatten()
        .map(|c| c.to_json(None));
    let mut value = pi.to_json(charge);
    if wants(expand, "payment_method")
        && let Some(card) = pi.payment_method.as_deref().and_then(cards::find)
    {
        value["payment_method"] = card.payment_method(pi.created);
    }
    value
}

/// A Charge; expandable: `payment_intent`.
pub fn charge(store: &Store, charge: &Charge, expand: &[String]) -> Value {
    let pi = wants(expand, "payment_intent")
        .then(|| store.intents.get(&charge.payment_intent))
        .flatten()
        .map(|pi| pi.to_json(None));
    charge.to_json(pi)
}

/// A Refund; expandable: `charge`, `payment_intent`.
pub fn refund(store: &Store, refund: &Refund, expand: &[String]) -> Value {
    let charge = wants(expand, "charge")
        .then(|| store.charges.get(&refund.charge))
        .flatten()
        .map(|c| c.to_json(None));
    let pi = wants(expand, "payment_intent")
        .then(|| store.intents.get(&refund.payment_intent))
        .flatten()
        .map(|pi| pi.to_json(None));
    refund.to_json(charge, pi)
}

/// The PaymentIntent named in the URL, or 404.
pub fn intent_at<'s>(store: &'s Store, id: &str) -> Result<&'s PaymentIntent, ApiError> {
    store
        .intents
        .get(id)
        .ok_or_else(|| ApiError::no_such_path("payment_intent", id).param("intent"))
}

/// The PaymentIntent's current JSON, unexpanded (for events and error bodies).
pub fn intent_snapshot(store: &Store, id: &str) -> Value {
    store
        .intents
        .get(id)
        .map(|pi| pi.to_json(None))
        .unwrap_or(Value::Null)
}

/// The Charge's current JSON, unexpanded.
pub fn charge_snapshot(store: &Store, id: &str) -> Value {
    store
        .charges
        .get(id)
        .map(|c| c.to_json(None))
        .unwrap_or(Value::Null)
}

/// `12.34 USD`, for error messages.
pub fn money(amount: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        amount / 100,
        amount % 100,
        currency.to_uppercase()
    )
}
