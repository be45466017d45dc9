//! `GET /v1/orders/{number}`: one store order with its lines and history; for ops also
//! what the retailer charged for it and who made each change (`view::History`).

use axum::Json;
use axum::extract::State;
use cartwright_shared::api_keys::Role;

use crate::checkout::view::{self, OrderView, Reader};
use crate::error::ApiError;
use crate::extract::{Authenticated, Path};
use crate::state::AppState;

pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    match view::order(&mut conn, &number, Reader::from(principal.role)).await? {
        Some((owner, order)) if principal.role == Role::Ops || owner == principal.name => {
            Ok(Json(order))
        }
        _ => Err(ApiError::NotFound(format!("order {number}"))),
    }
}
