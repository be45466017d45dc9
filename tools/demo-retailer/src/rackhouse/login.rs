//! Rackhouse's login page: where the `sign_in_wall` scenario sends checkout. No
//! account exists, so logging in always fails.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::context;

use crate::render::PageResult;
use crate::state::AppState;

pub const WALL: &str = "/rackhouse/login?next=%2Frackhouse%2Fcheckout";

pub async fn show(State(state): State<AppState>) -> PageResult {
    let error: Option<&str> = None;
    state
        .templates
        .page(StatusCode::OK, "rackhouse/login.html", context! { error })
}

pub async fn submit(State(state): State<AppState>) -> PageResult {
    let error = Some("We couldn't log you in with those details.");
    state.templates.page(
        StatusCode::UNAUTHORIZED,
        "rackhouse/login.html",
        context! { error },
    )
}
