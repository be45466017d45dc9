//! After placement: `POST /v1/ops/orders/{number}/tracking` (placed → shipped) and
//! `POST /v1/ops/orders/{number}/delivered` (shipped → delivered).

use axum::Json;
use axum::extract::State;
use cartwright_shared::placement::manual_queue;
use cartwright_shared::status::actor;
use serde::Deserialize;

use super::ops_placements::order_view;
use crate::checkout::view::OrderView;
use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::placement;
use crate::state::AppState;
use crate::validate::required_text;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrackingBody {
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
}

pub async fn tracking(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    JsonBody { value: body, .. }: JsonBody<TrackingBody>,
) -> Result<Json<OrderView>, ApiError> {
    let tracking_number = required_text("tracking_number", body.tracking_number)?;
    let carrier = required_text("carrier", body.carrier)?;
    let who = actor::api_key(&principal.name);
    manual_queue::ship(&state.pool, &number, &who, &tracking_number, &carrier)
        .await
        .map_err(placement::error)?;
    order_view(&state, &number).await
}

pub async fn delivered(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let who = actor::api_key(&principal.name);
    manual_queue::deliver(&state.pool, &number, &who)
        .await
        .map_err(placement::error)?;
    order_view(&state, &number).await
}
