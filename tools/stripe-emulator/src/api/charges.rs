//! `/v1/charges/{id}` and `/v1/disputes/{id}` (read-only).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::Value;

use super::query;
use crate::app::App;
use crate::error::ApiError;
use crate::ops::render;

pub async fn retrieve(
    State(app): State<App>,
    Path(id): Path<String>,
    raw: RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = query(raw)?;
    app.with_store(|s| {
        let charge = s
            .charges
            .get(&id)
            .ok_or_else(|| ApiError::no_such_path("charge", &id))?;
        Ok(Json(render::charge(s, charge, &params.list("expand"))))
    })
}

pub async fn retrieve_dispute(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.with_store(|s| {
        let dispute = s
            .disputes
            .get(&id)
            .ok_or_else(|| ApiError::no_such_path("dispute", &id))?;
        Ok(Json(dispute.to_json()))
    })
}
