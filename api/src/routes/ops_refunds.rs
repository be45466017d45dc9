//! `POST /v1/ops/orders/{number}/refund`: ops refund all or part of a bought order. The
//! request is recorded and announced (`refund.requested`) in one transaction; the
//! payment worker makes the Stripe refund. Never more than was captured for the order
//! minus what is refunded or being refunded.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::money::Minor;
use cartwright_shared::ops_audit::{self, Target};
use cartwright_shared::outbox;
use cartwright_shared::status::{actor, checkout as cs, order as os};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// A decimal string; the whole refundable rest when absent.
    amount: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(number): Path<String>,
    JsonBody { value: body, .. }: JsonBody<RefundBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let asked = match body.amount.as_deref() {
        None => None,
        Some(raw) => match Minor::parse_decimal(raw) {
            Ok(Minor(0)) => return Err(ApiError::invalid("amount", "amount must be more than 0")),
            Ok(amount) => Some(amount.0),
            Err(problem) => return Err(ApiError::invalid("amount", problem)),
        },
    };
    let mut tx = state.pool.begin().await?;
    let order: Option<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT o.checkout_id, o.status, o.total, o.currency, c.status
         FROM orders o JOIN checkouts c ON c.id = o.checkout_id
         WHERE o.number = $1 FOR UPDATE OF o",
    )
    .bind(&number)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((checkout_id, status, total, currency, checkout_status)) = order else {
        return Err(ApiError::NotFound(format!("order {number}")));
    };
    let captured = if checkout_status == cs::COMPLETED && os::BOUGHT.contains(&status.as_str()) {
        total
    } else {
        0
    };
    if captured == 0 {
        return Err(ApiError::Conflict {
            code: "order_not_captured",
            message: format!(
                "order {number} has not been paid for (it is {status}); there is nothing to refund"
            ),
        });
    }
    let (refunded, last): (i64, i32) = sqlx::query_as(
        "SELECT COALESCE(sum(amount) FILTER (WHERE status <> 'failed'), 0)::BIGINT,
                COALESCE(max(sequence), 0)
         FROM refunds WHERE order_number = $1",
    )
    .bind(&number)
    .fetch_one(&mut *tx)
    .await?;
    let refundable = captured - refunded;
    let amount = asked.unwrap_or(refundable);
    if amount == 0 || amount > refundable {
        return Err(ApiError::Conflict {
            code: "refund_exceeds_captured",
            message: format!(
                "order {number}: {} captured, {} refunded or being refunded; at most {} can be refunded",
                Minor(captured),
                Minor(refunded),
                Minor(refundable)
            ),
        });
    }
    let sequence = last + 1;
    let who = actor::api_key(&principal.name);
    sqlx::query(
        "INSERT INTO refunds (order_number, sequence, checkout_id, amount, requested_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&number)
    .bind(sequence)
    .bind(&checkout_id)
    .bind(amount)
    .bind(&who)
    .execute(&mut *tx)
    .await?;
    ops_audit::record(
        &mut tx,
        &who,
        "order.refund_requested",
        Target::Order(&number),
        json!({ "amount": amount, "refund_number": sequence }),
    )
    .await?;
    let payload = json!({
        "checkout_id": checkout_id,
        "order_number": number,
        "amount": amount,
        "refund_number": sequence,
    });
    outbox::enqueue(&mut tx, "refund.requested", &checkout_id, &payload).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "order_number": number,
            "refund_number": sequence,
            "amount": Minor(amount),
            "currency": currency,
            "status": "requested",
        })),
    ))
}
