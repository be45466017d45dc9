//! The manual placement queue for ops: list, instructions, claim, renew, placed,
//! failed, and the stats. Claims are leases (`PLACEMENT_LEASE_SECS`).

use axum::Json;
use axum::extract::State;
use cartwright_shared::placement::manual_queue::{self, Lease, Placement};
use cartwright_shared::status::actor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ops_stores::amount;
use crate::checkout::view::{self, OrderView, Reader};
use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path, Query};
use crate::placement::{self, Filter, Instructions};
use crate::state::AppState;
use crate::validate::{optional_text, required_text};

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    store: Option<String>,
    reason: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Ops(_): Ops,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = Filter::parse(q.status, q.store, q.reason, q.after, q.limit)?;
    let (placements, next_after) = placement::list(&state.pool, &filter).await?;
    Ok(Json(
        json!({ "placements": placements, "next_after": next_after }),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Ops(_): Ops,
    Path(number): Path<String>,
) -> Result<Json<Instructions>, ApiError> {
    placement::instructions(&state.pool, &number, &state.config.placement.card_reference)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("queued order {number}")))
}

#[derive(Serialize)]
pub struct LeaseView {
    order_number: String,
    claimed_by: String,
    lease_expires_at: DateTime<Utc>,
}

fn lease_view(number: String, lease: Lease) -> Json<LeaseView> {
    Json(LeaseView {
        order_number: number,
        claimed_by: lease.holder,
        lease_expires_at: lease.expires_at,
    })
}

pub async fn claim(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
) -> Result<Json<LeaseView>, ApiError> {
    let who = actor::api_key(&principal.name);
    let lease = manual_queue::claim(&state.pool, &number, &who, state.config.placement.lease)
        .await
        .map_err(placement::error)?;
    Ok(lease_view(number, lease))
}

pub async fn renew(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
) -> Result<Json<LeaseView>, ApiError> {
    let who = actor::api_key(&principal.name);
    let lease = manual_queue::renew(&state.pool, &number, &who, state.config.placement.lease)
        .await
        .map_err(placement::error)?;
    Ok(lease_view(number, lease))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PlacedBody {
    pub store_order_number: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub total_paid: Option<String>,
}

impl PlacedBody {
    /// Checks every field; each failure names its field.
    pub fn parse(self) -> Result<Placement, ApiError> {
        let store_order_number = required_text("store_order_number", self.store_order_number)?;
        let tracking_number = optional_text("tracking_number", self.tracking_number)?;
        let carrier = optional_text("carrier", self.carrier)?;
        if carrier.is_some() && tracking_number.is_none() {
            return Err(ApiError::missing("tracking_number"));
        }
        let total_paid = amount("total_paid", optional_text("total_paid", self.total_paid)?)?;
        Ok(Placement {
            store_order_number,
            tracking_number,
            carrier,
            total_paid: total_paid.map(|t| t.0),
        })
    }
}

pub async fn placed(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    JsonBody { value: body, .. }: JsonBody<PlacedBody>,
) -> Result<Json<OrderView>, ApiError> {
    let placement = body.parse()?;
    let who = actor::api_key(&principal.name);
    manual_queue::place(&state.pool, &number, &who, &placement)
        .await
        .map_err(placement::error)?;
    order_view(&state, &number).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FailedBody {
    pub reason: Option<String>,
}

pub async fn failed(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    JsonBody { value: body, .. }: JsonBody<FailedBody>,
) -> Result<Json<OrderView>, ApiError> {
    let reason = required_text("reason", body.reason)?;
    let who = actor::api_key(&principal.name);
    manual_queue::fail(&state.pool, &number, &who, &reason)
        .await
        .map_err(placement::error)?;
    order_view(&state, &number).await
}

pub async fn stats(State(state): State<AppState>, Ops(_): Ops) -> Result<Json<Value>, ApiError> {
    Ok(Json(placement::stats(&state.pool).await?))
}

/// The order as `GET /v1/orders/{number}` shows it.
pub async fn order_view(state: &AppState, number: &str) -> Result<Json<OrderView>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    view::order(&mut conn, number, Reader::Ops)
        .await?
        .map(|(_, order)| Json(order))
        .ok_or_else(|| ApiError::NotFound(format!("order {number}")))
}
