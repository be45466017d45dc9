//! The HTTP surface: one module per resource.

pub(crate) mod catalog;
mod checkouts;
mod health;
mod metrics;
mod openapi;
mod ops_alerts;
mod ops_catalog;
mod ops_dead_letters;
pub(crate) mod ops_orders;
pub(crate) mod ops_placements;
mod ops_refunds;
mod ops_stores;
mod orders;
mod quotes;
mod stripe_webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};

use crate::address_limit;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        // No key: each request spends from its address's allowance.
        .route(
            "/healthz",
            get(health::healthz).layer(from_fn_with_state(state.clone(), address_limit::limit)),
        )
        .route(
            "/readyz",
            get(health::readyz).layer(from_fn_with_state(state.clone(), address_limit::limit)),
        )
        .route("/openapi.json", get(openapi::spec))
        .route("/v1/checkouts", post(checkouts::create))
        .route("/v1/checkouts/{id}", get(checkouts::show))
        .route("/v1/quotes", post(quotes::create))
        .route("/v1/orders", get(orders::list))
        .route("/v1/orders/{number}", get(orders::show))
        .route("/v1/catalog", get(catalog::list))
        .route("/v1/ops/stores", get(ops_stores::list))
        .route("/v1/ops/stores/{id}", put(ops_stores::upsert))
        .route("/v1/ops/catalog/{sku}", put(ops_catalog::upsert))
        .route("/v1/ops/alerts", get(ops_alerts::list))
        .route("/v1/ops/dead-letters", get(ops_dead_letters::list))
        .route(
            "/v1/ops/dead-letters/replay",
            post(ops_dead_letters::replay),
        )
        .route(
            "/v1/ops/dead-letters/{id}",
            delete(ops_dead_letters::discard),
        )
        .route("/v1/ops/placements", get(ops_placements::list))
        .route("/v1/ops/placements/{number}", get(ops_placements::show))
        .route(
            "/v1/ops/placements/{number}/claim",
            post(ops_placements::claim),
        )
        .route(
            "/v1/ops/placements/{number}/renew",
            post(ops_placements::renew),
        )
        .route(
            "/v1/ops/placements/{number}/placed",
            post(ops_placements::placed),
        )
        .route(
            "/v1/ops/placements/{number}/failed",
            post(ops_placements::failed),
        )
        .route(
            "/v1/ops/orders/{number}/tracking",
            post(ops_orders::tracking),
        )
        .route(
            "/v1/ops/orders/{number}/delivered",
            post(ops_orders::delivered),
        )
        .route("/v1/ops/stats", get(ops_placements::stats))
        .route("/v1/ops/orders/{number}/refund", post(ops_refunds::create))
        .route("/v1/ops/orders/{number}/cancel", post(ops_orders::cancel))
        // Stripe's events need more than BODY_LIMIT; a route's own limit wins over the one
        // the router sets below.
        .route(
            "/v1/webhooks/stripe",
            post(stripe_webhooks::receive)
                .layer(DefaultBodyLimit::max(stripe_webhooks::BODY_LIMIT)),
        )
        .route("/metrics", get(metrics::render))
        // The ops console's HTML pages under /ops live in src/console/ (not this file):
        // they are not JSON API operations, so api/openapi.json does not describe them.
        .merge(crate::console::routes(&state))
        // Runs after routing, so requests are counted by route template, not raw path.
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
