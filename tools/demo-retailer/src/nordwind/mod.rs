//! Nordwind Outfitters: a classic multi-page shop keyed by SKU, under `/nordwind`.

mod address_frame;
mod cart;
mod checkout;
mod layout;
mod product;
mod sign_in;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use minijinja::context;

use crate::catalog::Store;
use crate::render::PageResult;
use crate::state::AppState;

const STORE: Store = Store::Nordwind;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nordwind", get(product::home))
        .route("/nordwind/", get(product::home))
        .route("/nordwind/p/{sku}", get(product::show))
        .route("/nordwind/cart/add", post(product::add))
        .route("/nordwind/cart", get(cart::show))
        .route(
            "/nordwind/checkout",
            get(checkout::show).post(checkout::place),
        )
        .route(
            address_frame::PATH,
            get(address_frame::show).post(address_frame::save),
        )
        .route("/nordwind/order/{number}", get(checkout::confirmation))
        .route(
            "/nordwind/account/sign-in",
            get(sign_in::show).post(sign_in::submit),
        )
}

fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> PageResult {
    state
        .templates
        .page(status, "nordwind/message.html", context! { title, text })
}

fn not_found(state: &AppState) -> PageResult {
    message(
        state,
        StatusCode::NOT_FOUND,
        "Page not found",
        "We could not find that page.",
    )
}
