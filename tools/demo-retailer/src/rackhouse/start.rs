//! Rackhouse's continue step between basket and checkout: a page with one button that
//! marks the session as a guest checkout. The checkout page sends anyone who skipped
//! it back here.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;

use super::{STORE, checkout};
use crate::render::PageResult;
use crate::scenario::RequestScenario;
use crate::session;
use crate::shopping;
use crate::state::AppState;

pub const PATH: &str = "/rackhouse/checkout/start";

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
) -> PageResult {
    let basket = state.cart(STORE, session::read_cookie(&headers, STORE), request);
    state.pause_if_slow(&basket.scenarios).await;
    if let Some(gate) = shopping::checkout_gate(&basket) {
        return checkout::gate_response(gate);
    }
    state
        .templates
        .page(StatusCode::OK, "rackhouse/start.html", context! { basket })
}

pub async fn proceed(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(id) = session::read_cookie(&headers, STORE) else {
        return checkout::gate_response(shopping::Gate::EmptyCart);
    };
    state.sessions().entry(id).guest = true;
    Ok(Redirect::to("/rackhouse/checkout").into_response())
}
