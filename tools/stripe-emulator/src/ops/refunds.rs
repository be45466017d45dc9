//! Refunds of captured charges.

use serde_json::Value;

use crate::error::ApiError;
use crate::form::Params;
use crate::ids;
use crate::model::Refund;
use crate::ops::render;
use crate::store::{Origin, Store};

const REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

/// The charge a refund request names, directly or through its PaymentIntent.
fn charge_id(store: &Store, params: &Params) -> Result<String, ApiError> {
    if let Some(charge) = params.text("charge") {
        return store
            .charges
            .get(&charge)
            .map(|c| c.id.clone())
            .ok_or_else(|| ApiError::no_such_param("charge", &charge, "charge"));
    }
    let Some(pi_id) = params.text("payment_intent") else {
        return Err(ApiError::invalid(
            "One of the following params should be provided for this request: payment_intent or charge.",
        )
        .code("parameter_missing"));
    };
    let pi = store
        .intents
        .get(&pi_id)
        .ok_or_else(|| ApiError::no_such_param("payment_intent", &pi_id, "payment_intent"))?;
    pi.latest_charge
        .clone()
        .filter(|c| store.charges.get(c).is_some_and(|c| c.succeeded()))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "PaymentIntent {pi_id} does not have a successful charge to refund."
            ))
            .code("charge_not_refundable")
            .param("payment_intent")
        })
}

pub fn create(store: &mut Store, origin: &Origin, params: &Params) -> Result<Value, ApiError> {
    let charge_id = charge_id(store, params)?;
    let Some(charge) = store.charges.get(&charge_id) else {
        return Err(ApiError::no_such_param("charge", &charge_id, "charge"));
    };
    if !charge.succeeded() || !charge.captured {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} has not been captured; cancel its PaymentIntent to release the authorization."
        ))
        .code("charge_not_refundable"));
    }
    if charge.disputed {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} has been charged back; cannot issue a refund."
        ))
        .code("charge_disputed"));
    }
    let remaining = charge.refundable();
    if remaining == 0 {
        return Err(
            ApiError::invalid(format!("Charge {charge_id} has already been refunded."))
                .code("charge_already_refunded"),
        );
    }
    let amount = params.int("amount")?.unwrap_or(remaining);
    if amount <= 0 {
        return Err(ApiError::invalid("Invalid positive integer").param("amount"));
    }
    if amount > remaining {
        return Err(ApiError::invalid(format!(
            "Refund amount ({}) is greater than unrefunded amount on charge ({})",
            render::money(amount, &charge.currency),
            render::money(remaining, &charge.currency)
        ))
        .code("amount_too_large")
        .param("amount"));
    }
    let refund = Refund {
        id: ids::new("re"),
        amount,
        charge: charge_id.clone(),
        created: ids::now(),
        currency: charge.currency.clone(),
        metadata: params.map("metadata")?,
        payment_intent: charge.payment_intent.clone(),
        reason: params.choice("reason", REASONS)?,
    };
    if let Some(charge) = store.charges.get_mut(&charge_id) {
        charge.amount_refunded += amount;
    }
    let refund_id = refund.id.clone();
    tracing::info!(refund = %refund_id, charge = %charge_id, amount, "refund created");
    store.emit(origin, "refund.created", refund.to_json(None, None));
    store.refunds.insert(refund);
    store.emit(
        origin,
        "charge.refunded",
        render::charge_snapshot(store, &charge_id),
    );
    retrieve(store, &refund_id, params)
}

pub fn retrieve(store: &Store, id: &str, params: &Params) -> Result<Value, ApiError> {
    let refund = store
        .refunds
        .get(id)
        .ok_or_else(|| ApiError::no_such_path("refund", id))?;
    Ok(render::refund(store, refund, &params.list("expand")))
}
