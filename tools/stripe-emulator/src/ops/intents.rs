//! PaymentIntent create, retrieve, capture and cancel.

use serde_json::Value;

use crate::cards::{self, TestCard};
use crate::error::ApiError;
use crate::form::Params;
use crate::ids;
use crate::model::{PaymentIntent, Status};
use crate::ops::{confirm, render};
use crate::store::{Origin, Store};

/// Stripe's smallest chargeable amount for USD, applied to every currency here.
pub const MIN_AMOUNT: i64 = 50;

const CAPTURE_METHODS: &[&str] = &["automatic", "automatic_async", "manual"];
const CONFIRMATION_METHODS: &[&str] = &["automatic", "manual"];
const CANCELLATION_REASONS: &[&str] = &[
    "duplicate",
    "fraudulent",
    "requested_by_customer",
    "abandoned",
];
const CANCELABLE: &[Status] = &[
    Status::RequiresPaymentMethod,
    Status::RequiresConfirmation,
    Status::RequiresAction,
    Status::RequiresCapture,
];

/// A test PaymentMethod named in the request, or 400 `resource_missing`.
pub fn find_card(id: &str) -> Result<&'static TestCard, ApiError> {
    cards::find(id).ok_or_else(|| ApiError::no_such_param("PaymentMethod", id, "payment_method"))
}

pub fn create(
    store: &mut Store,
    origin: &Origin,
    params: &Params,
    public_url: &str,
) -> Result<Value, ApiError> {
    store.counters.payment_intent_create_requests += 1;
    let amount = params
        .int("amount")?
        .ok_or_else(|| ApiError::missing_param("amount"))?;
    if amount < MIN_AMOUNT {
        return Err(ApiError::invalid(format!(
            "Amount must be at least {MIN_AMOUNT} minor units."
        ))
        .code("amount_too_small")
        .param("amount"));
    }
    let currency = params.required("currency")?.to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ApiError::invalid(format!("Invalid currency: {currency}.")).param("currency"));
    }
    let payment_method_types = match params.list("payment_method_types") {
        types if types.is_empty() => vec!["card".to_owned()],
        types if types.iter().all(|t| t == "card") => types,
        _ => {
            return Err(ApiError::invalid(
                "The Stripe emulator supports only the `card` payment method type.",
            )
            .param("payment_method_types"));
        }
    };
    let card = params
        .text("payment_method")
        .as_deref()
        .map(find_card)
        .transpose()?;
    let confirm = params.bool("confirm")?.unwrap_or(false);
    if confirm && card.is_none() {
        return Err(ApiError::missing_param("payment_method"));
    }
    let id = ids::new("pi");
    let pi = PaymentIntent {
        client_secret: ids::with_len(&format!("{id}_secret"), 25),
        id: id.clone(),
        amount,
        currency,
        capture_method: params
            .choice("capture_method", CAPTURE_METHODS)?
            .unwrap_or_else(|| "automatic_async".into()),
        confirmation_method: params
            .choice("confirmation_method", CONFIRMATION_METHODS)?
            .unwrap_or_else(|| "automatic".into()),
        status: if card.is_some() {
            Status::RequiresConfirmation
        } else {
            Status::RequiresPaymentMethod
        },
        payment_method: card.map(|c| c.id.to_owned()),
        payment_method_types,
        metadata: params.map("metadata")?,
        description: params.text("description"),
        receipt_email: params.text("receipt_email"),
        return_url: params.text("return_url"),
        created: ids::now(),
        canceled_at: None,
        cancellation_reason: None,
        amount_capturable: 0,
        amount_received: 0,
        latest_charge: None,
        last_payment_error: None,
        next_action: None,
        after_authentication: None,
        idempotency_key: origin.idempotency_key.clone(),
    };
    tracing::info!(pi = %id, amount, currency = %pi.currency, capture_method = %pi.capture_method, "payment intent created");
    let snapshot = pi.to_json(None);
    store.intents.insert(pi);
    store.counters.payment_intents_created += 1;
    store.emit(origin, "payment_intent.created", snapshot);
    let expand = params.list("expand");
    match card {
        Some(card) if confirm => confirm::attempt(store, origin, &id, card, public_url, &expand),
        _ => Ok(render::intent(
            store,
            render::intent_at(store, &id)?,
            &expand,
        )),
    }
}

pub fn retrieve(store: &Store, id: &str, params: &Params) -> Result<Value, ApiError> {
    Ok(render::intent(
        store,
        render::intent_at(store, id)?,
        &params.list("expand"),
    ))
}

pub fn capture(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let pi = render::intent_at(store, id)?;
    if pi.status != Status::RequiresCapture {
        return Err(ApiError::unexpected_state(format!(
            "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent \
             with one of the following statuses may be captured: requires_capture.",
            pi.status.as_str()
        )));
    }
    let capturable = pi.amount_capturable;
    let amount = params.int("amount_to_capture")?.unwrap_or(capturable);
    if amount <= 0 {
        return Err(ApiError::invalid("Invalid positive integer").param("amount_to_capture"));
    }
    if amount > capturable {
        return Err(ApiError::invalid(format!(
            "The amount to capture ({amount}) must be less than or equal to the amount capturable ({capturable})."
        ))
        .code("amount_too_large")
        .param("amount_to_capture"));
    }
    let metadata = params.map("metadata")?;
    let charge_id = pi.latest_charge.clone().unwrap_or_default();
    if let Some(charge) = store.charges.get_mut(&charge_id) {
        charge.captured = true;
        charge.amount_captured = amount;
        charge.amount_refunded += charge.amount - amount;
    }
    if let Some(pi) = store.intents.get_mut(id) {
        pi.status = Status::Succeeded;
        pi.amount_received = amount;
        pi.amount_capturable = 0;
        pi.metadata.extend(metadata);
    }
    tracing::info!(pi = %id, amount, released = capturable - amount, "payment intent captured");
    store.emit(
        origin,
        "charge.captured",
        render::charge_snapshot(store, &charge_id),
    );
    store.emit(
        origin,
        "payment_intent.succeeded",
        render::intent_snapshot(store, id),
    );
    retrieve(store, id, params)
}

pub fn cancel(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let pi = render::intent_at(store, id)?;
    if !CANCELABLE.contains(&pi.status) {
        return Err(ApiError::unexpected_state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one \
             of the following statuses may be canceled: requires_payment_method, requires_capture, \
             requires_confirmation, requires_action, processing.",
            pi.status.as_str()
        )));
    }
    let reason = params.choice("cancellation_reason", CANCELLATION_REASONS)?;
    if pi.status == Status::RequiresCapture
        && let Some(charge) = pi
            .latest_charge
            .clone()
            .and_then(|c| store.charges.get_mut(&c))
    {
        charge.amount_refunded = charge.amount;
    }
    if let Some(pi) = store.intents.get_mut(id) {
        pi.status = Status::Canceled;
        pi.canceled_at = Some(ids::now());
        pi.cancellation_reason = reason;
        pi.amount_capturable = 0;
        pi.next_action = None;
    }
    tracing::info!(pi = %id, "payment intent canceled");
    store.emit(
        origin,
        "payment_intent.canceled",
        render::intent_snapshot(store, id),
    );
    retrieve(store, id, params)
}
