//! Health, reset and the webhook delivery log.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::App;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Forgets all objects, events, idempotency keys, registered endpoints (except the one
/// configured at start) and faults.
pub async fn reset(State(app): State<App>) -> Json<Value> {
    app.reset();
    tracing::info!("state reset");
    Json(json!({ "reset": true }))
}

/// Every delivery attempt so far, oldest first.
pub async fn deliveries(State(app): State<App>) -> Json<Value> {
    Json(json!({ "attempts": app.with_store(|s| s.deliveries.clone()) }))
}
