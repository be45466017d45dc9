//! `/v1/payment_intents` handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use serde_json::Value;

use super::{form, query};
use crate::app::App;
use crate::error::ApiError;
use crate::ops::{confirm as confirm_op, intents};
use crate::store::Origin;

type Answer = Result<Json<Value>, ApiError>;

pub async fn create(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    body: Bytes,
) -> Answer {
    let params = form(&body)?;
    app.with_store(|s| intents::create(s, &origin, &params, app.public_url()))
        .map(Json)
}

pub async fn retrieve(State(app): State<App>, Path(id): Path<String>, raw: RawQuery) -> Answer {
    let params = query(raw)?;
    app.with_store(|s| intents::retrieve(s, &id, &params))
        .map(Json)
}

pub async fn confirm(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let params = form(&body)?;
    app.with_store(|s| confirm_op::confirm(s, &origin, &id, &params, app.public_url()))
        .map(Json)
}

pub async fn capture(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let params = form(&body)?;
    app.with_store(|s| intents::capture(s, &origin, &id, &params))
        .map(Json)
}

pub async fn cancel(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let params = form(&body)?;
    app.with_store(|s| intents::cancel(s, &origin, &id, &params))
        .map(Json)
}
