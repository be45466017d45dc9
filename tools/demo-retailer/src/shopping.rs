//! The steps both stores share, whatever their markup: adding to the basket and the
//! gates in front of checkout.

use axum::http::StatusCode;
use serde::Serialize;
use uuid::Uuid;

use crate::cart::{self, PricedCart};
use crate::catalog::{self, Product, Store};
use crate::scenario::{Scenario, Scenarios};
use crate::session::CartLine;
use crate::state::AppState;

/// An add-to-basket submit, whatever the store calls its fields.
pub struct AddRequest {
    pub option: Option<String>,
    pub quantity: String,
    pub scenario: Option<Scenario>,
}

/// Why an add-to-basket was refused; the store re-renders its product page with it.
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// Adds the product to the session's basket (creating the session if needed) and
/// returns the session id for the cookie.
pub fn add_to_cart(
    state: &AppState,
    store: Store,
    session: Option<Uuid>,
    product: &'static Product,
    request: AddRequest,
    scenarios: &Scenarios,
) -> Result<Uuid, Refusal> {
    if scenarios.has(Scenario::OutOfStock) {
        return Err(refuse(
            StatusCode::CONFLICT,
            "Sorry, this item is sold out.",
        ));
    }
    let quantity = request
        .quantity
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|q| (1..=99).contains(q))
        .ok_or_else(|| {
            refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Quantity must be 1 to 99.",
            )
        })?;
    let option = request.option.filter(|o| !o.is_empty());
    if !product.accepts_option(option.as_deref()) {
        let label = product.option.as_ref().map_or("option", |o| o.label);
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Please choose a valid {label}."),
        ));
    }
    let id = session.unwrap_or_else(Uuid::new_v4);
    state.sessions().entry(id).add(CartLine {
        sku: product.sku,
        option,
        quantity,
        scenario: request.scenario,
    });
    tracing::debug!(
        store = store.id(),
        sku = product.sku,
        quantity,
        "added to basket"
    );
    Ok(id)
}

/// What stands between a basket and the checkout page.
pub enum Gate {
    EmptyCart,
    SignInWall,
}

pub fn checkout_gate(cart: &PricedCart) -> Option<Gate> {
    if cart.is_empty() {
        Some(Gate::EmptyCart)
    } else if cart.scenarios.has(Scenario::SignInWall) {
        Some(Gate::SignInWall)
    } else {
        None
    }
}

/// One message per sold-out line, for the checkout page's error box.
pub fn sold_out_messages(cart: &PricedCart) -> Vec<String> {
    cart.sold_out()
        .map(|l| format!("{} ({}) is sold out and cannot be ordered.", l.title, l.sku))
        .collect()
}

/// A product as a store's front page lists it: at the price the scenarios make it.
#[derive(Serialize)]
pub struct Listed {
    pub product: &'static Product,
    pub price_cents: i64,
}

pub fn listing(state: &AppState, store: Store) -> Vec<Listed> {
    catalog::for_store(store)
        .map(|product| Listed {
            product,
            price_cents: cart::unit_price(
                product,
                &state.product_scenarios(store, product.sku, None),
            ),
        })
        .collect()
}
