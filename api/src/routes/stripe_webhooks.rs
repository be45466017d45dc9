//! `POST /v1/webhooks/stripe`: Stripe's signed events. Verified on the raw bytes, stored
//! by event id (a redelivery answers 200 and does nothing more) and, when it is of a
//! type Cartwright acts on (`stripe_event_types`), handed to the stripe-events worker
//! through the outbox in the same transaction; the answer is fast.
//! The envelope is read tolerantly (id, type, created, data.object.id) because the worker
//! re-reads the object from Stripe anyway.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use bytes::Bytes;
use cartwright_shared::{outbox, stripe_event_types};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::body_rejected;
use crate::state::AppState;
use crate::stripe_signature;

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: Option<i64>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    object: Option<Object>,
}

#[derive(Deserialize)]
struct Object {
    id: Option<String>,
}

/// Stripe's events can be larger than the 64 KiB the API's own bodies may be (an invoice
/// with its lines), and one answered 413 is answered 413 on every retry: lost.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|rejection| body_rejected(rejection, BODY_LIMIT))?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    stripe_signature::verify(
        signature,
        &body,
        &state.config.stripe.webhook_secrets,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|err| {
        tracing::warn!(error = %err, "Stripe webhook refused");
        ApiError::InvalidSignature(err.to_string())
    })?;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
    crate::extract::refuse_nul(&payload)?;
    let event: Event = serde_json::from_value(payload.clone())
        .map_err(|e| ApiError::invalid("body", format!("not a Stripe event: {e}")))?;
    let object_id = event.data.and_then(|d| d.object).and_then(|o| o.id);

    // One statement, its own transaction: the event stored by id and, when it is new
    // and of a handled type, its message (four round trips were one each, issue 15).
    let message = json!({ "event_id": event.id, "type": event.event_type, "object_id": object_id });
    let stored: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH stored AS (
             INSERT INTO stripe_events (id, type, object_id, created, payload)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING
             RETURNING id
         ), queued AS (
             {insert} SELECT $6, 'stripe.event.received', id, $7 FROM stored WHERE $8
         )
         SELECT EXISTS (SELECT 1 FROM stored)",
        insert = outbox::INSERT
    )))
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(&object_id)
    .bind(event.created)
    .bind(&payload)
    .bind(uuid::Uuid::now_v7())
    .bind(&message)
    // Kept for the record only: nothing acts on it, so no message.
    .bind(stripe_event_types::is_handled(&event.event_type))
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(json!({ "received": true, "duplicate": !stored })))
}
