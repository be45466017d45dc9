//! Confirming a PaymentIntent: the card network's answer (approve, decline, 3-D Secure)
//! and the completion of a 3-D Secure challenge.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::cards::{Decline, Outcome, TestCard};
use crate::error::{ApiError, ErrorType};
use crate::form::Params;
use crate::ids;
use crate::model::{Charge, Status};
use crate::ops::intents::find_card;
use crate::ops::render;
use crate::store::{Origin, Store};

const CONFIRMABLE: &[Status] = &[
    Status::RequiresPaymentMethod,
    Status::RequiresConfirmation,
    Status::RequiresAction,
];

pub fn confirm(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    params: &Params,
    public_url: &str,
) -> Result<Value, ApiError> {
    let pi = render::intent_at(store, id)?;
    if !CONFIRMABLE.contains(&pi.status) {
        return Err(ApiError::unexpected_state(format!(
            "You cannot confirm this PaymentIntent because it has a status of {}.",
            pi.status.as_str()
        )));
    }
    let Some(payment_method) = params
        .text("payment_method")
        .or_else(|| pi.payment_method.clone())
    else {
        return Err(
            ApiError::missing_param("payment_method").code("payment_intent_unexpected_state")
        );
    };
    let card = find_card(&payment_method)?;
    let return_url = params.text("return_url");
    if let Some(pi) = store.intents.get_mut(id) {
        pi.payment_method = Some(card.id.to_owned());
        if return_url.is_some() {
            pi.return_url = return_url;
        }
    }
    attempt(store, origin, id, card, public_url, &params.list("expand"))
}

/// Sends a confirmed PaymentIntent to the (emulated) card network.
pub fn attempt(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    card: &'static TestCard,
    public_url: &str,
    expand: &[String],
) -> Result<Value, ApiError> {
    match card.outcome {
        Outcome::Approve => authorize(store, origin, id, card),
        Outcome::Decline(decline) => return Err(decline_with(store, origin, id, card, decline)),
        Outcome::Authenticate { then_decline } => {
            require_action(store, origin, id, then_decline, public_url)
        }
    }
    Ok(render::intent(store, render::intent_at(store, id)?, expand))
}

/// Completes (`succeed`) or fails a pending 3-D Secure challenge.
pub fn complete_authentication(
    store: &mut Store,
    id: &str,
    succeed: bool,
) -> Result<Value, ApiError> {
    let origin = Origin::default();
    let pi = render::intent_at(store, id)?;
    if pi.status != Status::RequiresAction {
        return Err(ApiError::unexpected_state(format!(
            "This PaymentIntent has no pending 3-D Secure challenge: its status is {}.",
            pi.status.as_str()
        )));
    }
    let card = find_card(pi.payment_method.as_deref().unwrap_or_default())?;
    match (succeed, pi.after_authentication) {
        (true, None) => authorize(store, &origin, id, card),
        (true, Some(decline)) => {
            decline_with(store, &origin, id, card, decline);
        }
        (false, _) => {
            let error = ApiError::invalid(
                "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a \
                 new PaymentMethod to attempt to fulfill this PaymentIntent again.",
            )
            .code("payment_intent_authentication_failure")
            .with("payment_method", card.payment_method(ids::now()));
            if let Some(pi) = store.intents.get_mut(id) {
                pi.status = Status::RequiresPaymentMethod;
                pi.payment_method = None;
                pi.next_action = None;
                pi.after_authentication = None;
                pi.last_payment_error = Some(error.to_object());
            }
            tracing::info!(pi = %id, "3-D Secure failed");
            store.emit(
                &origin,
                "payment_intent.payment_failed",
                render::intent_snapshot(store, id),
            );
        }
    }
    Ok(render::intent(store, render::intent_at(store, id)?, &[]))
}

fn new_charge(
    store: &Store,
    id: &str,
    card: &'static TestCard,
    failure: Option<Decline>,
) -> Option<Charge> {
    let pi = store.intents.get(id)?;
    let captured = failure.is_none() && !pi.is_manual_capture();
    Some(Charge {
        id: ids::new("ch"),
        amount: pi.amount,
        amount_captured: if captured { pi.amount } else { 0 },
        amount_refunded: 0,
        captured,
        created: ids::now(),
        currency: pi.currency.clone(),
        description: pi.description.clone(),
        disputed: false,
        failure,
        metadata: pi.metadata.clone(),
        payment_intent: pi.id.clone(),
        card,
    })
}

fn authorize(store: &mut Store, origin: &Origin, id: &str, card: &'static TestCard) {
    let Some(charge) = new_charge(store, id, card, None) else {
        return;
    };
    let charge_id = charge.id.clone();
    store.charges.insert(charge);
    let Some(pi) = store.intents.get_mut(id) else {
        return;
    };
    pi.latest_charge = Some(charge_id.clone());
    pi.last_payment_error = None;
    pi.next_action = None;
    pi.after_authentication = None;
    let event = if pi.is_manual_capture() {
        pi.status = Status::RequiresCapture;
        pi.amount_capturable = pi.amount;
        "payment_intent.amount_capturable_updated"
    } else {
        pi.status = Status::Succeeded;
        pi.amount_received = pi.amount;
        "payment_intent.succeeded"
    };
    tracing::info!(pi = %id, charge = %charge_id, status = pi.status.as_str(), "payment authorized");
    store.emit(
        origin,
        "charge.succeeded",
        render::charge_snapshot(store, &charge_id),
    );
    store.emit(origin, event, render::intent_snapshot(store, id));
}

/// Records a declined charge and returns the 402 `card_error` to answer with.
fn decline_with(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    card: &'static TestCard,
    decline: Decline,
) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        ErrorType::Card,
        decline.message,
    )
    .code(decline.code)
    .decline_code(decline.decline_code)
    .with("payment_method", card.payment_method(ids::now()))
    .with("payment_method_type", json!("card"));
    if let Some(charge) = new_charge(store, id, card, Some(decline)) {
        let charge_id = charge.id.clone();
        error = error.with("charge", json!(charge_id));
        store.charges.insert(charge);
        if let Some(pi) = store.intents.get_mut(id) {
            pi.status = Status::RequiresPaymentMethod;
            pi.payment_method = None;
            pi.latest_charge = Some(charge_id.clone());
            pi.next_action = None;
            pi.after_authentication = None;
            pi.last_payment_error = Some(error.to_object());
        }
        tracing::info!(pi = %id, charge = %charge_id, decline_code = decline.decline_code, "payment declined");
        store.emit(
            origin,
            "charge.failed",
            render::charge_snapshot(store, &charge_id),
        );
        store.emit(
            origin,
            "payment_intent.payment_failed",
            render::intent_snapshot(store, id),
        );
    }
    error.with("payment_intent", render::intent_snapshot(store, id))
}

fn require_action(
    store: &mut Store,
    origin: &Origin,
    id: &str,
    then_decline: Option<Decline>,
    public_url: &str,
) {
    let Some(pi) = store.intents.get_mut(id) else {
        return;
    };
    let challenge = format!("{public_url}/_emulator/3ds/{id}");
    pi.next_action = Some(match &pi.return_url {
        Some(return_url) => json!({
            "type": "redirect_to_url",
            "redirect_to_url": { "return_url": return_url, "url": challenge },
        }),
        None => json!({
            "type": "use_stripe_sdk",
            "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": challenge, "source": id },
        }),
    });
    pi.status = Status::RequiresAction;
    pi.after_authentication = then_decline;
    tracing::info!(pi = %id, "3-D Secure required");
    store.emit(
        origin,
        "payment_intent.requires_action",
        render::intent_snapshot(store, id),
    );
}
