//! `POST /v1/ops/orders/{number}/refund`: ops refund all or part of a bought order,
//! under an `Idempotency-Key`, with Stripe's refund `reason` and optionally returning the
//! order's units to stock (`crate::ops_change::refund`, shared with the console).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cartwright_shared::status::actor;

use crate::checkout::idempotency;
use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::ops_change::refund::{self, Idempotency, RefundBody};
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: JsonBody<RefundBody>,
) -> Result<Response, ApiError> {
    let key = idempotency::key_from(&headers)?;
    let ask = body.value.parse()?;
    let answer = refund::request(
        &state.pool,
        &actor::api_key(&principal.name),
        &number,
        &ask,
        &Idempotency {
            principal: &principal.name,
            key: &key,
            body: &body.json,
        },
    )
    .await?;
    let mut response = (StatusCode::ACCEPTED, Json(answer.body)).into_response();
    if answer.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
