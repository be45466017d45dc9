//! After placement: `POST /v1/ops/orders/{number}/tracking` (placed → shipped) and
//! `POST /v1/ops/orders/{number}/delivered` (shipped → delivered); and
//! `POST /v1/ops/orders/{number}/cancel` (an order not yet bought).

use axum::Json;
use axum::extract::State;
use cartwright_shared::placement::cancel::{self, CancelError};
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

/// `POST /v1/ops/orders/{number}/cancel`: an order not yet bought leaves the queues and
/// is not captured (`cartwright_shared::placement::cancel`). Cancelling a cancelled order
/// answers the same again.
pub async fn cancel(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    JsonBody { value: body, .. }: JsonBody<CancelBody>,
) -> Result<Json<OrderView>, ApiError> {
    let reason = required_text("reason", body.reason)?;
    let who = actor::api_key(&principal.name);
    cancel::cancel(&state.pool, &number, &who, &reason)
        .await
        .map_err(cancel_error)?;
    order_view(&state, &number).await
}

pub fn cancel_error(err: CancelError) -> ApiError {
    let message = err.to_string();
    match err {
        CancelError::NoSuchOrder(number) => ApiError::NotFound(format!("order {number}")),
        CancelError::AlreadyBought { .. } => ApiError::Conflict {
            code: "order_already_bought",
            message,
        },
        CancelError::Closed { .. } => ApiError::Conflict {
            code: "order_closed",
            message,
        },
        CancelError::BeingBought { .. } => ApiError::Conflict {
            code: "order_being_bought",
            message,
        },
        CancelError::Database(err) => err.into(),
    }
}
