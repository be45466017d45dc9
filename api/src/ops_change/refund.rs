//! Refunding all or part of a bought order, for the ops API and the console alike. The
//! request is recorded and announced (`refund.requested`) in one transaction; the
//! payment worker makes the Stripe refund. Never more than was captured for the order
//! minus what is refunded or being refunded.
//!
//! Idempotent under the caller's `Idempotency-Key`: the answer is stored in
//! `idempotency_keys` in the same transaction as the refund, so the same key and body
//! answer the same again (no second refund); the same key with another body (or another
//! order) is refused. A second request with the key waits for the first (a transaction
//! advisory lock on principal and key) and then finds its answer: a double click
//! refunds once.
//!
//! `restock` returns the order's units to stock through [`sku::put_in`], the ops
//! restock itself: the same `sku.update` audit rows and the same low-stock resolution.
//! At most one refund of an order restocks.

use cartwright_shared::money::Minor;
use cartwright_shared::ops_audit::{self, Target};
use cartwright_shared::outbox;
use cartwright_shared::status::{checkout as cs, order as os};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use super::sku::{self, SkuChange};
use crate::checkout::idempotency;
use crate::error::ApiError;

/// Stripe's refund reasons, passed to Stripe as given.
pub const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// The request body (`POST /v1/ops/orders/{number}/refund`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// A decimal string; the whole refundable rest when absent.
    pub amount: Option<String>,
    /// One of [`REASONS`].
    pub reason: Option<String>,
    /// Return the order's units to stock.
    pub restock: Option<bool>,
}

/// A checked refund request.
#[derive(Debug)]
pub struct RefundAsk {
    pub amount: Option<i64>,
    pub reason: Option<&'static str>,
    pub restock: bool,
}

impl RefundBody {
    pub fn parse(&self) -> Result<RefundAsk, ApiError> {
        let amount = match self.amount.as_deref() {
            None => None,
            Some(raw) => match Minor::parse_decimal(raw) {
                Ok(Minor(0)) => {
                    return Err(ApiError::invalid("amount", "amount must be more than 0"));
                }
                Ok(amount) => Some(amount.0),
                Err(problem) => return Err(ApiError::invalid("amount", problem)),
            },
        };
        let reason = match self.reason.as_deref() {
            None => None,
            Some(given) => Some(REASONS.into_iter().find(|r| *r == given).ok_or_else(|| {
                ApiError::invalid(
                    "reason",
                    format!("reason must be one of {}", REASONS.join(", ")),
                )
            })?),
        };
        Ok(RefundAsk {
            amount,
            reason,
            restock: self.restock.unwrap_or(false),
        })
    }
}

/// The caller's idempotency key and the hash of what it asked.
pub struct Idempotency<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    /// The request body as sent (it is hashed with the order number).
    pub body: &'a Value,
}

/// The answer, and whether it was replayed from an earlier request with the same key.
pub struct Answer {
    pub body: Value,
    pub replayed: bool,
}

/// Where a refund's idempotency key is stored: its own namespace of `idempotency_keys`,
/// so it never meets a checkout's key of the same principal.
fn stored_key(key: &str) -> String {
    format!("ops-refund:{key}")
}

pub async fn request(
    pool: &PgPool,
    actor: &str,
    number: &str,
    ask: &RefundAsk,
    idem: &Idempotency<'_>,
) -> Result<Answer, ApiError> {
    let key = stored_key(idem.key);
    let hash = idempotency::request_hash(&json!({ "order": number, "body": idem.body }));
    let mut tx = pool.begin().await?;
    // The second of two requests with one key waits here for the first, then finds its
    // stored answer below.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || E'\\x1f' || $2, 0))")
        .bind(idem.principal)
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    let stored: Option<(Vec<u8>, Value)> = sqlx::query_as(
        "SELECT request_hash, response_body FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(idem.principal)
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((stored_hash, body)) = stored {
        if stored_hash != hash {
            return Err(ApiError::Invalid {
                code: "idempotency_key_reused",
                field: "Idempotency-Key".into(),
                message:
                    "this Idempotency-Key was used with a different refund (another order or body)"
                        .into(),
            });
        }
        return Ok(Answer {
            body,
            replayed: true,
        });
    }
    let body = refund_in(&mut tx, actor, number, ask).await?;
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, 202, $4)",
    )
    .bind(idem.principal)
    .bind(&key)
    .bind(&hash)
    .bind(&body)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Answer {
        body,
        replayed: false,
    })
}

async fn refund_in(
    tx: &mut PgConnection,
    actor: &str,
    number: &str,
    ask: &RefundAsk,
) -> Result<Value, ApiError> {
    let order: Option<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT o.checkout_id, o.status, o.total, o.currency, c.status
         FROM orders o JOIN checkouts c ON c.id = o.checkout_id
         WHERE o.number = $1 FOR UPDATE OF o",
    )
    .bind(number)
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
    let (refunded, last, restocked): (i64, i32, bool) = sqlx::query_as(
        "SELECT COALESCE(sum(amount) FILTER (WHERE status <> 'failed'), 0)::BIGINT,
                COALESCE(max(sequence), 0), COALESCE(bool_or(restocked), false)
         FROM refunds WHERE order_number = $1",
    )
    .bind(number)
    .fetch_one(&mut *tx)
    .await?;
    let refundable = captured - refunded;
    let amount = ask.amount.unwrap_or(refundable);
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
    if ask.restock && restocked {
        return Err(ApiError::Conflict {
            code: "already_restocked",
            message: format!(
                "order {number}'s units were returned to stock by an earlier refund; refund without restock"
            ),
        });
    }
    let sequence = last + 1;
    sqlx::query(
        "INSERT INTO refunds (order_number, sequence, checkout_id, amount, requested_by, reason, restocked)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(number)
    .bind(sequence)
    .bind(&checkout_id)
    .bind(amount)
    .bind(actor)
    .bind(ask.reason)
    .bind(ask.restock)
    .execute(&mut *tx)
    .await?;
    let restocked_units = if ask.restock {
        restock(tx, actor, number).await?
    } else {
        Vec::new()
    };
    ops_audit::record(
        tx,
        actor,
        "order.refund_requested",
        Target::Order(number),
        json!({
            "amount": amount,
            "refund_number": sequence,
            "reason": ask.reason,
            "restock": ask.restock,
        }),
    )
    .await?;
    let payload = json!({
        "checkout_id": checkout_id,
        "order_number": number,
        "amount": amount,
        "refund_number": sequence,
        "reason": ask.reason,
    });
    outbox::enqueue(tx, "refund.requested", &checkout_id, &payload).await?;
    Ok(json!({
        "order_number": number,
        "refund_number": sequence,
        "amount": Minor(amount),
        "currency": currency,
        "reason": ask.reason,
        "restocked": restocked_units,
        "status": "requested",
    }))
}

/// Returns the order's units to stock, one SKU at a time in SKU order (as every writer
/// of several SKUs locks them), through the ops restock; the units returned per SKU.
async fn restock(tx: &mut PgConnection, actor: &str, number: &str) -> Result<Vec<Value>, ApiError> {
    let lines: Vec<(String, i64)> = sqlx::query_as(
        "SELECT sku, sum(quantity)::BIGINT FROM order_items WHERE order_number = $1
         GROUP BY sku ORDER BY sku",
    )
    .bind(number)
    .fetch_all(&mut *tx)
    .await?;
    let mut returned = Vec::with_capacity(lines.len());
    for (sku_code, quantity) in lines {
        let stock: i64 =
            sqlx::query_scalar("SELECT stock::BIGINT FROM skus WHERE sku = $1 FOR UPDATE")
                .bind(&sku_code)
                .fetch_one(&mut *tx)
                .await?;
        let (_, view) = sku::put_in(
            tx,
            actor,
            &sku_code,
            SkuChange {
                stock: Some(stock + quantity),
                ..SkuChange::default()
            },
        )
        .await?;
        returned.push(json!({ "sku": sku_code, "quantity": quantity, "stock": view.stock }));
    }
    Ok(returned)
}
