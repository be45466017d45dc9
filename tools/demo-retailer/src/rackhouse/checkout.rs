//! Rackhouse's single-page checkout (address and a saved card), the place-order submit
//! and the confirmation page.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{STORE, layout, login, start};
use crate::address::AddressInput;
use crate::cart::PricedCart;
use crate::orders::Payment;
use crate::render::PageResult;
use crate::scenario::{RequestScenario, Scenario};
use crate::session;
use crate::shopping::{self, Gate};
use crate::state::{AppState, Placement};

/// A card on file with the company's Rackhouse account, chosen by radio button.
#[derive(Debug, Serialize)]
pub struct SavedCard {
    pub value: &'static str,
    pub label: &'static str,
}

pub const SAVED_CARDS: [SavedCard; 2] = [
    SavedCard {
        value: "visa-4242",
        label: "Visa ending in 4242 (Company card)",
    },
    SavedCard {
        value: "mc-5454",
        label: "Mastercard ending in 5454 (Travel card)",
    },
];

/// The checkout form; the aliases are the next layout's field names.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CheckoutForm {
    #[serde(rename = "fullName", alias = "recipient")]
    full_name: String,
    #[serde(alias = "street_1")]
    address1: String,
    #[serde(alias = "street_2")]
    address2: String,
    #[serde(alias = "city_name")]
    town: String,
    #[serde(alias = "state_code")]
    region: String,
    #[serde(alias = "post_code")]
    zip: String,
    #[serde(rename = "countryCode", alias = "country")]
    country_code: String,
    #[serde(rename = "savedCard", alias = "payment_method")]
    saved_card: String,
}

impl CheckoutForm {
    fn address(&self) -> AddressInput {
        AddressInput {
            name: self.full_name.clone(),
            line1: self.address1.clone(),
            line2: self.address2.clone(),
            city: self.town.clone(),
            state: self.region.clone(),
            postal_code: self.zip.clone(),
            country: self.country_code.clone(),
        }
    }
}

fn page(
    state: &AppState,
    status: StatusCode,
    basket: &PricedCart,
    request: Option<Scenario>,
    form: &CheckoutForm,
    errors: Vec<String>,
) -> PageResult {
    let action = match request {
        Some(s) => format!("/rackhouse/checkout?scenario={}", s.as_str()),
        None => "/rackhouse/checkout".to_owned(),
    };
    let context = context! {
        layout => layout::for_scenarios(&basket.scenarios),
        basket,
        form => form.address(),
        selected_card => form.saved_card,
        cards => SAVED_CARDS,
        errors,
        action,
        captcha => basket.scenarios.has(Scenario::Captcha),
    };
    state
        .templates
        .page(status, "rackhouse/checkout.html", context)
}

pub fn gate_response(gate: Gate) -> PageResult {
    let to = match gate {
        Gate::EmptyCart => "/rackhouse/basket",
        Gate::SignInWall => login::WALL,
    };
    Ok(Redirect::to(to).into_response())
}

/// The redirect in front of checkout, if any: empty basket, sign-in wall, or the
/// continue step not taken yet.
fn gate(state: &AppState, id: Option<Uuid>, basket: &PricedCart) -> Option<PageResult> {
    if let Some(gate) = shopping::checkout_gate(basket) {
        return Some(gate_response(gate));
    }
    if !state.session(id).guest {
        return Some(Ok(Redirect::to(start::PATH).into_response()));
    }
    None
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
) -> PageResult {
    let id = session::read_cookie(&headers, STORE);
    let basket = state.cart(STORE, id, request);
    state.pause_if_slow(&basket.scenarios).await;
    if let Some(redirect) = gate(&state, id, &basket) {
        return redirect;
    }
    let errors = shopping::sold_out_messages(&basket);
    page(
        &state,
        StatusCode::OK,
        &basket,
        request,
        &CheckoutForm::default(),
        errors,
    )
}

pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
    Form(form): Form<CheckoutForm>,
) -> PageResult {
    let id = session::read_cookie(&headers, STORE);
    let basket = state.cart(STORE, id, request);
    state.pause_if_slow(&basket.scenarios).await;
    if let Some(redirect) = gate(&state, id, &basket) {
        return redirect;
    }
    if basket.scenarios.has(Scenario::Captcha) {
        let errors = vec!["Please verify you're human before paying.".to_owned()];
        return page(
            &state,
            StatusCode::FORBIDDEN,
            &basket,
            request,
            &form,
            errors,
        );
    }
    let mut errors = Vec::new();
    let address = form.address().validate().map_err(|e| errors.extend(e)).ok();
    let card = SAVED_CARDS.iter().find(|c| c.value == form.saved_card);
    if card.is_none() {
        errors.push("Choose one of your saved cards.".to_owned());
    }
    let (Some(address), Some(card), true) = (address, card, errors.is_empty()) else {
        return page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &basket,
            request,
            &form,
            errors,
        );
    };
    match state.place_order(STORE, id, request, address, Payment::SavedCard(card.value)) {
        Placement::EmptyCart => gate_response(Gate::EmptyCart),
        Placement::SoldOut(basket) => {
            let errors = shopping::sold_out_messages(&basket);
            page(
                &state,
                StatusCode::CONFLICT,
                &basket,
                request,
                &form,
                errors,
            )
        }
        Placement::Placed(order) if order.scenarios.contains(&Scenario::ErrorAfterSubmit) => {
            super::message(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Oops! Something went wrong",
                "Error 500. Our team has been notified.",
            )
        }
        Placement::Placed(order) => {
            Ok(Redirect::to(&format!("/rackhouse/orders/{}", order.order_number)).into_response())
        }
    }
}

pub async fn confirmation(State(state): State<AppState>, Path(number): Path<String>) -> PageResult {
    let Some(order) = state.orders().find(STORE, &number).cloned() else {
        return super::not_found(&state);
    };
    let card = SAVED_CARDS
        .iter()
        .find(|c| Some(c.value) == order.saved_card);
    state.templates.page(
        StatusCode::OK,
        "rackhouse/confirmation.html",
        context! { order, card },
    )
}
