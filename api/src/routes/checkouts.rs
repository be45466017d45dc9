//! `POST /v1/checkouts` and `GET /v1/checkouts/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cartwright_shared::api_keys::Role;

use crate::checkout::idempotency;
use crate::checkout::request::{CheckoutBody, CheckoutRequest};
use crate::checkout::submit::{self, Submission};
use crate::checkout::view::{self, Reader};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, Path, Storefront};
use crate::state::AppState;
use crate::validate;

pub async fn create(
    State(state): State<AppState>,
    Storefront(principal): Storefront,
    headers: HeaderMap,
    body: JsonBody<CheckoutBody>,
) -> Result<Response, ApiError> {
    state
        .intake_limiter
        .check(principal.key_id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let key = idempotency::key_from(&headers)?;
    let request_hash = idempotency::request_hash(&body.json);
    validate::refuse_hidden_or_private(&body.json)?;
    let request = CheckoutRequest::try_from(body.value)?;

    let accepted = submit::submit(
        &state.pool,
        &state.intake,
        Submission {
            principal: &principal.name,
            idempotency_key: &key,
            request_hash: &request_hash,
            request,
        },
    )
    .await?;
    let status = StatusCode::from_u16(accepted.status).unwrap_or(StatusCode::ACCEPTED);
    let mut response = (status, Json(accepted.body)).into_response();
    if accepted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A storefront sees only its own checkouts (another's answers 404, revealing nothing),
/// with the customer's history; ops see all, with every actor and reason.
pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<view::CheckoutView>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    match view::checkout(&mut conn, &id, Reader::from(principal.role)).await? {
        Some(checkout) if principal.role == Role::Ops || checkout.principal == principal.name => {
            Ok(Json(checkout))
        }
        _ => Err(ApiError::NotFound(format!("checkout {id}"))),
    }
}
