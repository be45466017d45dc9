//! Nordwind's account sign-in page: where the `sign_in_wall` scenario sends checkout.
//! No account exists, so signing in always fails.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::context;

use crate::render::PageResult;
use crate::state::AppState;

pub const WALL: &str = "/nordwind/account/sign-in?return_to=/nordwind/checkout";

pub async fn show(State(state): State<AppState>) -> PageResult {
    let error: Option<&str> = None;
    state
        .templates
        .page(StatusCode::OK, "nordwind/sign_in.html", context! { error })
}

pub async fn submit(State(state): State<AppState>) -> PageResult {
    let error = Some("The email address or password is incorrect.");
    state.templates.page(
        StatusCode::UNAUTHORIZED,
        "nordwind/sign_in.html",
        context! { error },
    )
}
