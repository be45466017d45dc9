//! Rackhouse Cycling: a differently built shop keyed by its own product ids, with
//! `data-testid` markup, a continue step and a single-page checkout, under `/rackhouse`.

mod basket;
mod checkout;
mod layout;
mod login;
mod product;
mod start;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use minijinja::context;

use crate::catalog::Store;
use crate::render::PageResult;
use crate::state::AppState;

const STORE: Store = Store::Rackhouse;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rackhouse", get(product::home))
        .route("/rackhouse/", get(product::home))
        .route("/rackhouse/products/{product_id}", get(product::show))
        .route("/rackhouse/basket/items", post(product::add))
        .route("/rackhouse/basket", get(basket::show))
        .route(
            "/rackhouse/checkout/start",
            get(start::show).post(start::proceed),
        )
        .route(
            "/rackhouse/checkout",
            get(checkout::show).post(checkout::place),
        )
        .route("/rackhouse/orders/{number}", get(checkout::confirmation))
        .route("/rackhouse/login", get(login::show).post(login::submit))
}

fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> PageResult {
    state
        .templates
        .page(status, "rackhouse/message.html", context! { title, text })
}

fn not_found(state: &AppState) -> PageResult {
    message(
        state,
        StatusCode::NOT_FOUND,
        "Not found",
        "That page does not exist (any more).",
    )
}
