//! `POST /v1/webhooks/stripe`: Stripe's signed events. Verified on the raw bytes, stored
//! by event id (a redelivery answers 200 and does nothing more) and, when it is of a
//! type Cartwright acts on (`stripe_event_types`), handed to the stripe-events worker
//! through the outbox in the same transaction (parked for a few seconds when its
//! checkout's payment job is still in flight, not at all when the checkout is already
//! past what it could change); the answer is fast.
//! The envelope is read tolerantly (id, type, created, data.object.id) because the worker
//! re-reads the object from Stripe anyway.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use bytes::Bytes;
use cartwright_shared::{status, stripe_event_types};
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

    // A PaymentIntent event whose checkout is already past waiting for payment changes
    // nothing (the worker's own first check), so it is stored and not queued: the
    // payment job recorded the authorization it announces. One for a checkout whose
    // payment job has not recorded an outcome yet (Stripe, and the emulator even more,
    // can be faster than the job's commit) is parked: the job records the same outcome
    // a moment later, and the stripe-events worker's sweep drops the event then (or
    // hands it on, should the job never finish). The checkout to park for is named by
    // the PaymentIntent's own metadata; a wrong one can only delay the event by the
    // park time.
    let of_payment_intent = stripe_event_types::PAYMENT_INTENT.contains(&event.event_type.as_str());
    let checkout_id = payload
        .pointer("/data/object/metadata/checkout_id")
        .and_then(Value::as_str)
        .filter(|_| of_payment_intent);

    // One statement, its own transaction: the event stored by id and, when it is new
    // and of a handled type, its message or its parking (four round trips were one
    // each, issue 15).
    let stored: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH applied AS (
             SELECT 1 WHERE $11 AND EXISTS (SELECT 1 FROM checkouts
                                            WHERE payment_intent_id = $3 AND status <> ALL($12))
         ), parked AS (
             SELECT now() + make_interval(secs => $8) AS due_at
             WHERE EXISTS (SELECT 1 FROM checkouts WHERE id = $9 AND status = $10)
         ), stored AS (
             INSERT INTO stripe_events (id, type, object_id, created, payload)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING
             RETURNING id, type, object_id
         ), parking AS (
             INSERT INTO stripe_events_parked (event_id, due_at)
             SELECT stored.id, parked.due_at FROM stored, parked
         ), queued AS ({queue})
         SELECT EXISTS (SELECT 1 FROM stored)",
        queue = stripe_event_types::queue_received(
            "$6",
            "stored WHERE $7 AND NOT EXISTS (SELECT 1 FROM parked)
                     AND NOT EXISTS (SELECT 1 FROM applied)"
        )
    )))
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(&object_id)
    .bind(event.created)
    .bind(&payload)
    .bind(uuid::Uuid::now_v7())
    // Kept for the record only: nothing acts on it, so no message.
    .bind(stripe_event_types::is_handled(&event.event_type))
    .bind(state.config.api.stripe_event_park.as_secs_f64())
    .bind(checkout_id)
    .bind(status::checkout::PENDING)
    .bind(of_payment_intent)
    .bind(&stripe_event_types::CHECKOUT_WAITING[..])
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(json!({ "received": true, "duplicate": !stored })))
}
