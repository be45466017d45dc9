//! Submitting a checkout: in ONE transaction, check the idempotency key, price every
//! line from the catalog, reserve the stock, write the checkout, its orders, their
//! lines, the holds, the audit rows, the `checkout.submitted` outbox message (and a
//! `stock.low` one for each SKU the holds leave at or under its threshold), and store
//! the answer for replay. Either all of it commits or none of it does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cartwright_shared::ids::{new_checkout_id, new_order_number};
use cartwright_shared::money::Minor;
use cartwright_shared::pricing::{self, PricedCheckout, PricedLine, StoreShipping};
use cartwright_shared::status::{self, Transition};
use cartwright_shared::{outbox, status::actor, stock_levels};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use super::idempotency;
use super::request::CheckoutRequest;
use super::view;
use crate::error::ApiError;

pub const SUBMITTED: &str = "checkout.submitted";

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
    let mut tx = pool.begin().await?;
    if !idempotency::try_lock(&mut tx, s.principal, s.idempotency_key).await? {
        return Err(ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "another request with this Idempotency-Key is in progress; retry it later"
                .into(),
        });
    }
    if let Some(stored) = idempotency::find(&mut tx, s.principal, s.idempotency_key).await? {
        if stored.request_hash != s.request_hash {
            return Err(ApiError::Invalid {
                code: "idempotency_key_reused",
                field: "Idempotency-Key".into(),
                message: "this Idempotency-Key was used with a different request body".into(),
            });
        }
        return Ok(Accepted {
            status: u16::try_from(stored.status).unwrap_or(202),
            body: stored.body,
            replayed: true,
        });
    }

    let request = &s.request;
    let lines = reserve_lines(&mut tx, request).await?;
    let shipping = shipping_rules(&mut tx, &lines).await?;
    let rate = tax_rate(&mut tx, request).await?;
    let priced = pricing::price(&lines, &shipping, rate)?;

    let checkout_id = new_checkout_id();
    write_checkout(&mut tx, &s, &checkout_id, &priced).await?;
    // A reservation may leave a SKU at or under its low-stock threshold: alert ops.
    let skus: Vec<String> = lines.iter().map(|l| l.sku.clone()).collect();
    stock_levels::check(&mut tx, &skus).await?;

    let view = view::checkout(&mut tx, &checkout_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "checkout vanished inside its own transaction"
            ))
        })?;
    let body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    idempotency::save(
        &mut tx,
        s.principal,
        s.idempotency_key,
        s.request_hash,
        202,
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(Accepted {
        status: 202,
        body,
        replayed: false,
    })
}

/// Checks every SKU, then reserves each line's units with one conditional UPDATE, in
/// SKU order so concurrent checkouts lock rows in the same order and never deadlock.
/// The UPDATE re-checks availability against the latest committed row, so concurrent
/// checkouts can never reserve more than the stock.
async fn reserve_lines(
    tx: &mut PgConnection,
    request: &CheckoutRequest,
) -> Result<Vec<PricedLine>, ApiError> {
    let skus: Vec<String> = request.lines.iter().map(|l| l.sku.clone()).collect();
    let known: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT sku, currency FROM skus WHERE sku = ANY($1)")
            .bind(&skus)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    for (i, line) in request.lines.iter().enumerate() {
        let field = format!("items[{i}].sku");
        match known.get(&line.sku) {
            None => {
                return Err(ApiError::Invalid {
                    code: "unknown_sku",
                    message: format!("{field}: no SKU {:?} in the catalog", line.sku),
                    field,
                });
            }
            Some(currency) if currency != request.currency.as_str() => {
                return Err(ApiError::Invalid {
                    code: "currency_mismatch",
                    message: format!(
                        "{field}: {} is sold in {currency}, but the checkout is in {}; one checkout takes one currency",
                        line.sku, request.currency
                    ),
                    field,
                });
            }
            Some(_) => {}
        }
    }

    let mut order: Vec<usize> = (0..request.lines.len()).collect();
    order.sort_by(|&a, &b| request.lines[a].sku.cmp(&request.lines[b].sku));
    let mut priced: Vec<Option<PricedLine>> = vec![None; request.lines.len()];
    for i in order {
        let line = &request.lines[i];
        let reserved: Option<(String, String, i64)> = sqlx::query_as(
            "UPDATE skus SET reserved = reserved + $2, updated_at = now()
             WHERE sku = $1 AND stock - reserved >= $2
             RETURNING store_id, title, price",
        )
        .bind(&line.sku)
        .bind(line.quantity)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((store_id, title, price)) = reserved else {
            let available: i64 =
                sqlx::query_scalar("SELECT (stock - reserved)::BIGINT FROM skus WHERE sku = $1")
                    .bind(&line.sku)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(ApiError::InsufficientStock {
                field: format!("items[{i}].quantity"),
                sku: line.sku.clone(),
                available,
                requested: line.quantity.into(),
            });
        };
        priced[i] = Some(PricedLine {
            sku: line.sku.clone(),
            title,
            store_id,
            quantity: line.quantity,
            unit_price: Minor(price),
        });
    }
    Ok(priced.into_iter().flatten().collect())
}

async fn shipping_rules(
    tx: &mut PgConnection,
    lines: &[PricedLine],
) -> Result<BTreeMap<String, StoreShipping>, ApiError> {
    let stores: Vec<String> = lines.iter().map(|l| l.store_id.clone()).collect();
    let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, shipping_fee, free_shipping_threshold FROM stores WHERE id = ANY($1)",
    )
    .bind(&stores)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, fee, threshold)| {
            let rule = StoreShipping {
                fee: Minor(fee),
                free_threshold: threshold.map(Minor),
            };
            (id, rule)
        })
        .collect())
}

/// The region's own rate wins over the country-wide one; no row means no tax.
async fn tax_rate(tx: &mut PgConnection, request: &CheckoutRequest) -> Result<Decimal, ApiError> {
    let address = &request.shipping_address;
    let rate: Option<Decimal> = sqlx::query_scalar(
        "SELECT rate FROM tax_rates WHERE country = $1 AND region IN ($2, '')
         ORDER BY region DESC LIMIT 1",
    )
    .bind(&address.country)
    .bind(address.state.as_deref().unwrap_or(""))
    .fetch_optional(&mut *tx)
    .await?;
    Ok(rate.unwrap_or(Decimal::ZERO))
}

async fn write_checkout(
    tx: &mut PgConnection,
    s: &Submission<'_>,
    checkout_id: &str,
    priced: &PricedCheckout,
) -> Result<(), ApiError> {
    let request = &s.request;
    let actor = actor::api_key(s.principal);
    sqlx::query(
        "INSERT INTO checkouts (id, principal, status, currency, subtotal, shipping, tax, total,
                                customer, shipping_address, payment_method)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(checkout_id)
    .bind(s.principal)
    .bind(status::checkout::PENDING)
    .bind(request.currency.as_str())
    .bind(priced.subtotal.0)
    .bind(priced.shipping.0)
    .bind(priced.tax.0)
    .bind(priced.total.0)
    .bind(json!(request.customer))
    .bind(json!(request.shipping_address))
    .bind(&request.payment_method)
    .execute(&mut *tx)
    .await?;
    status::record(
        tx,
        Transition {
            checkout_id,
            order_number: None,
            from: None,
            to: status::checkout::PENDING,
            actor: &actor,
            reason: Some("submitted"),
        },
    )
    .await?;

    let hold_secs = i64::try_from(s.hold_for.as_secs()).unwrap_or(i64::MAX);
    let mut numbers = Vec::with_capacity(priced.orders.len());
    for order in &priced.orders {
        let number = new_order_number();
        sqlx::query(
            "INSERT INTO orders (number, checkout_id, store_id, status, currency, subtotal, shipping, tax, total)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&number)
        .bind(checkout_id)
        .bind(&order.store_id)
        .bind(status::order::PENDING_PAYMENT)
        .bind(request.currency.as_str())
        .bind(order.subtotal.0)
        .bind(order.shipping.0)
        .bind(order.tax.0)
        .bind(order.total.0)
        .execute(&mut *tx)
        .await?;

        let positions: Vec<i32> = (0..).take(order.lines.len()).collect();
        let skus: Vec<&str> = order.lines.iter().map(|l| l.sku.as_str()).collect();
        let titles: Vec<&str> = order.lines.iter().map(|l| l.title.as_str()).collect();
        let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
        let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price.0).collect();
        let totals = order
            .lines
            .iter()
            .map(|l| l.line_total().map(|total| total.0))
            .collect::<Result<Vec<i64>, _>>()?;
        sqlx::query(
            "INSERT INTO order_items (order_number, position, sku, title, quantity, unit_price, line_total)
             SELECT $1, * FROM UNNEST($2::INT[], $3::TEXT[], $4::TEXT[], $5::INT[], $6::BIGINT[], $7::BIGINT[])",
        )
        .bind(&number)
        .bind(&positions)
        .bind(&skus)
        .bind(&titles)
        .bind(&quantities)
        .bind(&prices)
        .bind(&totals)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO reservations (checkout_id, order_number, sku, quantity, expires_at)
             SELECT $1, $2, sku, quantity, now() + $5 * INTERVAL '1 second'
             FROM UNNEST($3::TEXT[], $4::INT[]) AS l(sku, quantity)",
        )
        .bind(checkout_id)
        .bind(&number)
        .bind(&skus)
        .bind(&quantities)
        .bind(hold_secs)
        .execute(&mut *tx)
        .await?;
        status::record(
            tx,
            Transition {
                checkout_id,
                order_number: Some(&number),
                from: None,
                to: status::order::PENDING_PAYMENT,
                actor: &actor,
                reason: Some("submitted"),
            },
        )
        .await?;
        numbers.push(number);
    }

    outbox::enqueue(
        tx,
        SUBMITTED,
        checkout_id,
        &SubmittedPayload {
            checkout_id,
            currency: request.currency.as_str(),
            total: priced.total.0,
            orders: numbers.iter().map(String::as_str).collect(),
        },
    )
    .await?;
    Ok(())
}
