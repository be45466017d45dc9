//! Submitting a checkout in two round trips. First one read of the catalog (the cart's
//! SKUs with their stores' shipping rules, and the tax rate), from which the cart is
//! priced (`super::catalog`, the path a quote takes too), never from the client. Then one call of `submit_checkout` (migration
//! 0008; 0020 copies each SKU's options onto its line), a transaction of its own that
//! checks the idempotency key, writes the checkout, its orders, their lines, the holds, the audit rows, the `checkout.submitted` outbox
//! message (and a `stock.low` one for each SKU the holds leave at or under its
//! threshold) and the stored answer, and reserves the stock last, under a check that the
//! catalog still says what the cart was priced from. Either all of it commits or none of
//! it does. The 202 answer is built from what is written, not read back.

use std::collections::HashMap;
use std::time::Duration;

use cartwright_shared::ids::{new_checkout_id, new_order_number};
use cartwright_shared::money::Minor;
use cartwright_shared::pricing::PricedCheckout;
use cartwright_shared::status::{self, actor};
use cartwright_shared::stock_levels::STOCK_LOW;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::catalog;
use super::request::CheckoutRequest;
use super::view::{CheckoutView, History, HistoryEntry, ItemView, OrderView, PaymentView, Reader};
use crate::error::ApiError;

pub const SUBMITTED: &str = "checkout.submitted";

/// What the audit rows of a new checkout and its orders say.
const SUBMITTED_REASON: &str = "submitted";

/// A catalog change between the read and the write makes the write refuse (CW004); the
/// cart is priced again from the new catalog this many times before giving up with 409.
const PRICING_ATTEMPTS: usize = 3;

pub struct Submission<'a> {
    pub principal: &'a str,
    pub idempotency_key: &'a str,
    pub request_hash: &'a [u8],
    pub request: CheckoutRequest,
    pub hold_for: Duration,
}

pub struct Accepted {
    pub status: u16,
    pub body: Value,
    /// True when this is the stored answer to an earlier identical request.
    pub replayed: bool,
}

/// The `checkout.submitted` message: what the payment worker needs to authorize.
#[derive(Serialize)]
struct SubmittedPayload<'a> {
    checkout_id: &'a str,
    currency: &'a str,
    total: i64,
    orders: Vec<&'a str>,
}

pub async fn submit(pool: &PgPool, s: Submission<'_>) -> Result<Accepted, ApiError> {
    for _ in 0..PRICING_ATTEMPTS {
        let catalog = catalog::read(pool, &s.request.cart).await?;
        let priced = catalog.price(&s.request.cart)?;
        match write(pool, &s, &priced).await? {
            Written::Accepted(body) => {
                return Ok(Accepted {
                    status: 202,
                    body,
                    replayed: false,
                });
            }
            Written::Replayed { status, body } => {
                return Ok(Accepted {
                    status,
                    body,
                    replayed: true,
                });
            }
            Written::CatalogChanged => {
                tracing::info!("catalog changed while pricing a checkout; pricing it again");
            }
        }
    }
    Err(ApiError::Conflict {
        code: "concurrent_update",
        message: "the catalog kept changing while this checkout was priced; retry it".into(),
    })
}

enum Written {
    Accepted(Value),
    Replayed { status: u16, body: Value },
    CatalogChanged,
}

/// A stored answer `submit_checkout` returns for a key seen before with the same body.
#[derive(Deserialize)]
struct Stored {
    status: i16,
    body: Value,
}

async fn write(
    pool: &PgPool,
    s: &Submission<'_>,
    priced: &PricedCheckout,
) -> Result<Written, ApiError> {
    let request = &s.request.cart;
    let checkout_id = new_checkout_id();
    let numbers: Vec<String> = priced.orders.iter().map(|_| new_order_number()).collect();
    // The database keeps microseconds: the answer must show the time a later read shows.
    let at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the clock is out of range")))?;
    let actor = actor::api_key(s.principal);
    let answer = serde_json::to_value(answer(s, &checkout_id, &numbers, priced, &actor, at)?)
        .map_err(|e| ApiError::Internal(e.into()))?;

    let index_of: HashMap<&str, usize> = request
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.sku.as_str(), i))
        .collect();
    let mut lines = Vec::with_capacity(request.lines.len());
    let mut orders = Vec::with_capacity(priced.orders.len());
    for (order, number) in priced.orders.iter().zip(&numbers) {
        orders.push(json!({
            "number": number,
            "store_id": order.store_id,
            "status": status::order::PENDING_PAYMENT,
            "subtotal": order.subtotal.0,
            "shipping": order.shipping.0,
            "tax": order.tax.0,
            "total": order.total.0,
        }));
        for (position, line) in order.lines.iter().enumerate() {
            lines.push(json!({
                "index": index_of[line.sku.as_str()],
                "order_number": number,
                "position": position,
                "sku": line.sku,
                "title": line.title,
                "store_id": line.store_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price.0,
                "line_total": line.line_total()?.0,
            }));
        }
    }
    let submitted = SubmittedPayload {
        checkout_id: &checkout_id,
        currency: request.currency.as_str(),
        total: priced.total.0,
        orders: numbers.iter().map(String::as_str).collect(),
    };

    let stored: Result<Option<Value>, sqlx::Error> = sqlx::query_scalar(
        "SELECT submit_checkout($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(s.principal)
    .bind(s.idempotency_key)
    .bind(s.request_hash)
    .bind(json!({
        "id": checkout_id,
        "status": status::checkout::PENDING,
        "currency": request.currency.as_str(),
        "subtotal": priced.subtotal.0,
        "shipping": priced.shipping.0,
        "tax": priced.tax.0,
        "total": priced.total.0,
        "customer": request.customer,
        "shipping_address": request.shipping_address,
        "payment_method": s.request.payment_method,
    }))
    .bind(Value::Array(orders))
    .bind(Value::Array(lines))
    .bind(at)
    .bind(s.hold_for.as_secs_f64())
    .bind(&actor)
    .bind(SUBMITTED_REASON)
    .bind(Uuid::now_v7())
    .bind(SUBMITTED)
    .bind(json!(submitted))
    .bind(STOCK_LOW)
    .bind(202_i16)
    .bind(&answer)
    .fetch_one(pool)
    .await;
    match stored {
        Ok(None) => Ok(Written::Accepted(answer)),
        Ok(Some(stored)) => {
            let stored: Stored =
                serde_json::from_value(stored).map_err(|e| ApiError::Internal(e.into()))?;
            Ok(Written::Replayed {
                status: u16::try_from(stored.status).unwrap_or(202),
                body: stored.body,
            })
        }
        Err(err) => refusal(err, &s.request).map(|()| Written::CatalogChanged),
    }
}

/// `submit_checkout`'s refusals (its codes are listed in migration 0008) as API errors;
/// `Ok` means the catalog changed under the cart and it must be priced again.
fn refusal(err: sqlx::Error, request: &CheckoutRequest) -> Result<(), ApiError> {
    let Some(code) = err.as_database_error().and_then(|e| e.code()) else {
        return Err(err.into());
    };
    match code.as_ref() {
        "CW001" => Err(ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "another request with this Idempotency-Key is in progress; retry it later"
                .into(),
        }),
        "CW002" => Err(ApiError::Invalid {
            code: "idempotency_key_reused",
            field: "Idempotency-Key".into(),
            message: "this Idempotency-Key was used with a different request body".into(),
        }),
        "CW003" => {
            #[derive(Deserialize)]
            struct Short {
                index: usize,
                sku: String,
                available: Option<i64>,
            }
            let message = err.as_database_error().map(|e| e.message()).unwrap_or("");
            let short: Short = serde_json::from_str(message).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!(
                    "unreadable insufficient_stock {message:?}: {e}"
                ))
            })?;
            let requested = request
                .cart
                .lines
                .get(short.index)
                .map_or(0, |l| i64::from(l.quantity));
            Err(ApiError::InsufficientStock {
                field: format!("items[{}].quantity", short.index),
                sku: short.sku,
                available: short.available.unwrap_or(0),
                requested,
            })
        }
        "CW004" => Ok(()),
        _ => Err(err.into()),
    }
}

/// The 202 answer, exactly as `GET /v1/checkouts/{id}` will show the checkout to its
/// storefront until something changes: the same view type, filled from what is written.
fn answer(
    s: &Submission<'_>,
    checkout_id: &str,
    numbers: &[String],
    priced: &PricedCheckout,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<CheckoutView, ApiError> {
    let request = &s.request.cart;
    let entry = |order_number: Option<&String>, to: &str| HistoryEntry {
        order_number: order_number.cloned(),
        from: None,
        to: to.to_owned(),
        actor: actor.to_owned(),
        reason: Some(SUBMITTED_REASON.to_owned()),
        at,
    };
    let mut history = vec![entry(None, status::checkout::PENDING)];
    let orders = priced
        .orders
        .iter()
        .zip(numbers)
        .map(|(order, number)| {
            history.push(entry(Some(number), status::order::PENDING_PAYMENT));
            Ok(OrderView {
                number: number.clone(),
                checkout_id: checkout_id.to_owned(),
                store: order.store_id.clone(),
                status: status::order::PENDING_PAYMENT.to_owned(),
                currency: request.currency.as_str().to_owned(),
                subtotal: order.subtotal,
                shipping: order.shipping,
                tax: order.tax,
                total: order.total,
                items: order
                    .lines
                    .iter()
                    .map(ItemView::priced)
                    .collect::<Result<_, _>>()?,
                store_order_number: None,
                tracking_number: None,
                carrier: None,
                created_at: at,
                updated_at: at,
                history: None,
                retailer_charge: None,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(CheckoutView {
        id: checkout_id.to_owned(),
        status: status::checkout::PENDING.to_owned(),
        currency: request.currency.as_str().to_owned(),
        subtotal: priced.subtotal,
        shipping: priced.shipping,
        tax: priced.tax,
        total: priced.total,
        customer: json!(request.customer),
        shipping_address: json!(request.shipping_address),
        orders,
        history: History::for_reader(history, Reader::Storefront),
        client_secret: None,
        decline_code: None,
        payment: PaymentView {
            authorized: Minor(0),
            captured: Minor(0),
            refunded: Minor(0),
        },
        created_at: at,
        updated_at: at,
        principal: s.principal.to_owned(),
    })
}
