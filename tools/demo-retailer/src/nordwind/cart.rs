//! Nordwind's cart page.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use minijinja::context;

use super::STORE;
use crate::render::PageResult;
use crate::scenario::RequestScenario;
use crate::session;
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestScenario(request): RequestScenario,
) -> PageResult {
    let cart = state.cart(STORE, session::read_cookie(&headers, STORE), request);
    state.pause_if_slow(&cart.scenarios).await;
    state
        .templates
        .page(StatusCode::OK, "nordwind/cart.html", context! { cart })
}
