//! Nordwind's checkout page, the place-order submit and the confirmation page.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{STORE, layout, sign_in};
use crate::address::AddressInput;
use crate::cart::PricedCart;
use crate::orders::Payment;
use crate::render::PageResult;
use crate::scenario::{RequestScenario, Scenario};
use crate::session;
use crate::shopping::{self, Gate};
use crate::state::{AppState, Placement};

/// The checkout form; the aliases are the redesigned layout's field names.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CheckoutForm {
    #[serde(alias = "recipient")]
    name: String,
    #[serde(alias = "street")]
    line1: String,
    #[serde(alias = "street2")]
    line2: String,
    #[serde(alias = "town")]
    city: String,
    #[serde(alias = "region")]
    state: String,
    #[serde(alias = "zip")]
    postal_code: String,
    #[serde(alias = "country_code")]
    country: String,
    #[serde(alias = "po_card")]
    card_reference: String,
}

impl CheckoutForm {
    fn address(&self) -> AddressInput {
        AddressInput {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

fn page(
    state: &AppState,
    status: StatusCode,
    cart: &PricedCart,
    request: Option<Scenario>,
    form: &CheckoutForm,
    errors: Vec<String>,
) -> PageResult {
    let action = match request {
        Some(s) => format!("/nordwind/checkout?scenario={}", s.as_str()),
        None => "/nordwind/checkout".to_owned(),
    };
    let context = context! {
        layout => layout::for_scenarios(&cart.scenarios),
        cart,
        form,
        errors,
        action,
        captcha => cart.scenarios.has(Scenario::Captcha),
        framed_address => cart.scenarios.has(Scenario::FramedAddress),
    };
    state
        .templates
        .page(status, "nordwind/checkout.html", context)
}

fn gate_response(gate: Gate) -> PageResult {
    let to = match gate {
        Gate::EmptyCart => "/nordwind/cart",
        Gate::SignInWall => sign_in::WALL,
    };
    Ok(Redirect::to(to).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
) -> PageResult {
    let cart = state.cart(STORE, session::read_cookie(&headers, STORE), request);
    state.pause_if_slow(&cart.scenarios).await;
    if let Some(gate) = shopping::checkout_gate(&cart) {
        return gate_response(gate);
    }
    let errors = shopping::sold_out_messages(&cart);
    page(
        &state,
        StatusCode::OK,
        &cart,
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
    let session = session::read_cookie(&headers, STORE);
    let cart = state.cart(STORE, session, request);
    state.pause_if_slow(&cart.scenarios).await;
    if let Some(gate) = shopping::checkout_gate(&cart) {
        return gate_response(gate);
    }
    if cart.scenarios.has(Scenario::Captcha) {
        let errors = vec!["Please complete the security check to place your order.".to_owned()];
        return page(&state, StatusCode::FORBIDDEN, &cart, request, &form, errors);
    }
    let card_reference = form.card_reference.trim().to_owned();
    let mut errors = Vec::new();
    let address = if cart.scenarios.has(Scenario::FramedAddress) {
        let saved = state.session(session).address;
        if saved.is_none() {
            errors.push("Please save your shipping address.".to_owned());
        }
        saved
    } else {
        form.address().validate().map_err(|e| errors.extend(e)).ok()
    };
    if card_reference.is_empty() {
        errors.push("Company card reference is required.".to_owned());
    }
    let Some(address) = address.filter(|_| errors.is_empty()) else {
        return page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &cart,
            request,
            &form,
            errors,
        );
    };
    match state.place_order(
        STORE,
        session,
        request,
        address,
        Payment::CardReference(card_reference),
    ) {
        Placement::EmptyCart => gate_response(Gate::EmptyCart),
        Placement::SoldOut(cart) => {
            let errors = shopping::sold_out_messages(&cart);
            page(&state, StatusCode::CONFLICT, &cart, request, &form, errors)
        }
        Placement::Placed(order) if order.scenarios.contains(&Scenario::ErrorAfterSubmit) => {
            super::message(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "We could not process your request. Please try again later.",
            )
        }
        Placement::Placed(order) => {
            Ok(Redirect::to(&format!("/nordwind/order/{}", order.order_number)).into_response())
        }
    }
}

pub async fn confirmation(State(state): State<AppState>, Path(number): Path<String>) -> PageResult {
    let Some(order) = state.orders().find(STORE, &number).cloned() else {
        return super::not_found(&state);
    };
    // `total_with_item_count`: the total's element also counts the items, as some shops'
    // confirmations do ("$185.97 (3 items)").
    let item_count = order
        .scenarios
        .contains(&Scenario::TotalWithItemCount)
        .then(|| order.items.iter().map(|i| i.quantity).sum::<u32>());
    state.templates.page(
        StatusCode::OK,
        "nordwind/confirmation.html",
        context! { order, item_count },
    )
}
