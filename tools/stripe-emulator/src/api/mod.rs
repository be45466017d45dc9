//! The Stripe-compatible `/v1` routes.

mod charges;
mod events;
mod list;
mod payment_intents;
mod refunds;
mod webhook_endpoints;

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{Method, Uri};
use axum::routing::{get, post};

use crate::app::App;
use crate::error::ApiError;
use crate::form::Params;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/payment_intents", post(payment_intents::create))
        .route("/v1/payment_intents/{id}", get(payment_intents::retrieve))
        .route(
            "/v1/payment_intents/{id}/confirm",
            post(payment_intents::confirm),
        )
        .route(
            "/v1/payment_intents/{id}/capture",
            post(payment_intents::capture),
        )
        .route(
            "/v1/payment_intents/{id}/cancel",
            post(payment_intents::cancel),
        )
        .route("/v1/charges/{id}", get(charges::retrieve))
        .route("/v1/disputes/{id}", get(charges::retrieve_dispute))
        .route("/v1/refunds", post(refunds::create).get(refunds::list))
        .route("/v1/refunds/{id}", get(refunds::retrieve))
        .route("/v1/events", get(events::list))
        .route("/v1/events/{id}", get(events::retrieve))
        .route(
            "/v1/webhook_endpoints",
            post(webhook_endpoints::create).get(webhook_endpoints::list),
        )
        .route(
            "/v1/webhook_endpoints/{id}",
            get(webhook_endpoints::retrieve).delete(webhook_endpoints::delete),
        )
        .method_not_allowed_fallback(unrecognized)
}

/// Stripe's answer to a URL or method it does not serve.
pub async fn unrecognized(method: Method, uri: Uri) -> ApiError {
    let mut err = ApiError::invalid(format!(
        "Unrecognized request URL ({method}: {}). The Stripe emulator serves only the subset of the API \
         listed in its README.",
        uri.path()
    ));
    err.status = axum::http::StatusCode::NOT_FOUND;
    err
}

/// Parameters of a GET request (its query string).
fn query(raw: RawQuery) -> Result<Params, ApiError> {
    Params::parse(raw.0.unwrap_or_default().as_bytes())
}

/// Parameters of a POST request (its form body).
fn form(body: &Bytes) -> Result<Params, ApiError> {
    Params::parse(body)
}
