//! The database side of automated placement: the order to buy, and the
//! `placement_attempts` rows that make "never twice" hold across crashes.

use std::collections::BTreeMap;

use cartwright_shared::capture_deadline::{self, Purchase};
use cartwright_shared::status::order;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::execute::{Evidence, Line};

pub struct OrderToPlace {
    pub number: String,
    pub checkout_id: String,
    pub store_id: String,
    pub status: String,
    pub website_url: Option<String>,
    /// Lower-case ISO code: what the retailer's prices and total must be in.
    pub currency: String,
    /// The store's `price_tolerance_bps`: how far above a line's unit price the page's
    /// price may be.
    pub price_tolerance_bps: i32,
    pub lines: Vec<Line>,
    pub address: BTreeMap<String, String>,
}

pub async fn load_order(pool: &PgPool, number: &str) -> sqlx::Result<Option<OrderToPlace>> {
    let Some(row) = sqlx::query(
        "SELECT o.number, o.checkout_id, o.store_id, o.status, o.currency, s.website_url, s.price_tolerance_bps,
                c.shipping_address
         FROM orders o JOIN stores s ON s.id = o.store_id JOIN checkouts c ON c.id = o.checkout_id
         WHERE o.number = $1",
    )
    .bind(number)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT sku, quantity, unit_price, options FROM order_items WHERE order_number = $1 ORDER BY position",
    )
    .bind(number)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Line {
        sku: r.get("sku"),
        quantity: r.get("quantity"),
        unit_price: r.get("unit_price"),
        options: cartwright_shared::placement::line_options(&r.get("options")),
    })
    .collect();
    let shipping: serde_json::Value = row.get("shipping_address");
    let address = [
        "name",
        "line1",
        "line2",
        "city",
        "state",
        "postal_code",
        "country",
    ]
    .iter()
    .map(|k| {
        let v = shipping.get(*k).and_then(|v| v.as_str()).unwrap_or("");
        ((*k).to_owned(), v.to_owned())
    })
    .collect();
    Ok(Some(OrderToPlace {
        number: row.get("number"),
        checkout_id: row.get("checkout_id"),
        store_id: row.get("store_id"),
        status: row.get("status"),
        website_url: row.get("website_url"),
        currency: row.get("currency"),
        price_tolerance_bps: row.get("price_tolerance_bps"),
        lines,
        address,
    }))
}

/// An attempt that reached the final click and never recorded a result.
pub async fn unresolved_submit(pool: &PgPool, order: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM placement_attempts WHERE order_number = $1 AND state = 'submitting'",
    )
    .bind(order)
    .fetch_optional(pool)
    .await
}

/// Has any attempt for this order reached (or passed) the final click?
pub async fn submitted_before(pool: &PgPool, order: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM placement_attempts
                        WHERE order_number = $1 AND state IN ('placed', 'needs_verification'))",
    )
    .bind(order)
    .fetch_one(pool)
    .await
}

pub async fn start(
    pool: &PgPool,
    order: &OrderToPlace,
    message_id: Uuid,
    delivery: u32,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO placement_attempts (order_number, store_id, message_id, delivery, state)
         VALUES ($1, $2, $3, $4, 'started') RETURNING id",
    )
    .bind(&order.number)
    .bind(&order.store_id)
    .bind(message_id)
    .bind(delivery as i32)
    .fetch_one(pool)
    .await
}

/// Whether an attempt may make the final click.
#[derive(Debug, PartialEq, Eq)]
pub enum Submit {
    Go,
    /// It must not click; the reason is recorded on the attempt.
    Withdraw(String),
}

/// Committed before the final click, under the order's row lock, and only while the
/// order is still `placing` and its checkout's authorization can pay for it
/// (`cartwright_shared::capture_deadline`): the capture-deadline guard fails orders
/// under the same lock, so it either sees this attempt `submitting` and waits for it,
/// or this attempt sees the order failed. Another attempt for the order already at the
/// click (the partial unique index) withdraws this one too.
pub async fn mark_submitting(pool: &PgPool, order: &str, attempt: i64) -> sqlx::Result<Submit> {
    let mut tx = pool.begin().await?;
    match capture_deadline::lock_for_purchase(&mut tx, order, order::PLACING).await? {
        Purchase::Allowed => {}
        Purchase::NoSuchOrder => return Ok(Submit::Withdraw(format!("no order {order}"))),
        Purchase::WrongStatus(status) => {
            return Ok(Submit::Withdraw(format!(
                "the order is {status} now, no longer placing"
            )));
        }
        Purchase::AuthorizationEnding => {
            return Ok(Submit::Withdraw(
                "the payment authorization ends too soon to buy the order".to_owned(),
            ));
        }
    }
    let result = sqlx::query(
        "UPDATE placement_attempts SET state = 'submitting', submitting_at = now()
         WHERE id = $1 AND state = 'started'",
    )
    .bind(attempt)
    .execute(&mut *tx)
    .await;
    let overtaken = || Submit::Withdraw("another attempt is submitting this order".to_owned());
    match result {
        Ok(done) if done.rows_affected() == 1 => {
            tx.commit().await?;
            Ok(Submit::Go)
        }
        Ok(_) => Ok(overtaken()),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(overtaken()),
        Err(err) => Err(err),
    }
}

pub async fn state(pool: &PgPool, attempt: i64) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT state FROM placement_attempts WHERE id = $1")
        .bind(attempt)
        .fetch_one(pool)
        .await
}

pub struct Finish<'a> {
    pub state: &'a str,
    pub reason: Option<&'a str>,
    pub error: Option<&'a str>,
    pub store_order_number: Option<&'a str>,
    pub store_total: Option<i64>,
    pub evidence: &'a Evidence,
}

pub async fn finish(conn: &mut PgConnection, attempt: i64, f: Finish<'_>) -> sqlx::Result<()> {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    sqlx::query(
        "UPDATE placement_attempts SET state = $2, reason = $3, error = $4, store_order_number = $5,
                store_total = $6, evidence_dir = $7, screenshot_path = $8, html_path = $9,
                finished_at = now()
         WHERE id = $1",
    )
    .bind(attempt)
    .bind(f.state)
    .bind(f.reason)
    .bind(f.error)
    .bind(f.store_order_number)
    .bind(f.store_total)
    .bind(path(&f.evidence.dir))
    .bind(path(&f.evidence.screenshot))
    .bind(path(&f.evidence.html))
    .execute(conn)
    .await?;
    Ok(())
}
