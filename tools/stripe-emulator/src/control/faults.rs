//! `/_emulator/faults` and `/_emulator/delays`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::App;
use crate::faults::{DelayRule, FaultRule};

fn current(app: &App) -> Json<Value> {
    Json(json!(*app.faults()))
}

pub async fn list(State(app): State<App>) -> Json<Value> {
    current(&app)
}

/// Adds a rule: `{"kind": "server_error"|"rate_limit"|"lost_response", "count": 1,
/// "path_prefix": "/v1/payment_intents", "method": "POST"}`.
pub async fn add(State(app): State<App>, Json(rule): Json<FaultRule>) -> Json<Value> {
    tracing::info!(?rule, "fault rule added");
    app.faults().rules.push(rule);
    current(&app)
}

/// Adds a delay: `{"millis": 250, "path_prefix": "/v1/refunds"}`.
pub async fn add_delay(State(app): State<App>, Json(rule): Json<DelayRule>) -> Json<Value> {
    tracing::info!(?rule, "delay added");
    app.faults().delays.push(rule);
    current(&app)
}

/// Removes every fault rule and delay.
pub async fn clear(State(app): State<App>) -> Json<Value> {
    *app.faults() = Default::default();
    current(&app)
}
