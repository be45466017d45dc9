//! The whole site as one axum `Router`: both stores, the control API, an index page.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use minijinja::context;
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::catalog::Store;
use crate::config::Config;
use crate::render::PageResult;
use crate::state::AppState;
use crate::{admin, nordwind, rackhouse};

/// Builds the site with fresh state (no scenarios, no orders, no baskets).
pub fn router(config: Config) -> anyhow::Result<Router> {
    let state = AppState::new(config)?;
    Ok(Router::new()
        .route("/", get(index))
        .merge(nordwind::routes())
        .merge(rackhouse::routes())
        .merge(admin::routes())
        .layer(TraceLayer::new_for_http())
        .with_state(state))
}

async fn index(State(state): State<AppState>) -> PageResult {
    let stores: Vec<_> = Store::ALL
        .iter()
        .map(|s| json!({"id": s.id(), "name": s.name()}))
        .collect();
    state
        .templates
        .page(StatusCode::OK, "index.html", context! { stores })
}
