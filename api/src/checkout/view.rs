//! What `GET /v1/checkouts/{id}` and `GET /v1/orders/{number}` show, read in one place so
//! the 202 of a submission and every later read agree field for field.

use std::collections::HashMap;

use cartwright_shared::api_keys::Role;
use cartwright_shared::money::{Minor, Overflow};
use cartwright_shared::pricing::PricedLine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

#[derive(Debug, Serialize)]
pub struct CheckoutView {
    pub id: String,
    pub status: String,
    pub currency: String,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
    pub customer: Value,
    pub shipping_address: Value,
    pub orders: Vec<OrderView>,
    pub history: History,
    /// While 3-D Secure is pending: what the storefront hands to Stripe.js.
    pub client_secret: Option<String>,
    /// Stripe's decline code when the payment failed.
    pub decline_code: Option<String>,
    pub payment: PaymentView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub principal: String,
}

/// Sums over the checkout's succeeded payment_transactions rows.
#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub authorized: Minor,
    pub captured: Minor,
    pub refunded: Minor,
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub number: String,
    pub checkout_id: String,
    pub store: String,
    pub status: String,
    pub currency: String,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
    pub items: Vec<ItemView>,
    /// The retailer's own order number, once placed.
    pub store_order_number: Option<String>,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// Ops only, once the total paid is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retailer_charge: Option<RetailerCharge>,
    /// Ops only: every refund asked for, oldest first, with Stripe's error for a failed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
}

/// One refund of an order, as ops and finance see it.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub refund_number: i32,
    pub amount: Minor,
    /// Stripe's refund reason, when one was given.
    pub reason: Option<String>,
    /// `requested`, `succeeded` or `failed`.
    pub status: String,
    /// Why Stripe refused it (a failed refund).
    pub error: Option<String>,
    pub stripe_refund_id: Option<String>,
    /// Whether this refund returned the order's units to stock.
    pub restocked: bool,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

type RefundRow = (
    i32,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    bool,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

async fn refunds_of(conn: &mut PgConnection, number: &str) -> sqlx::Result<Vec<RefundView>> {
    let rows: Vec<RefundRow> = sqlx::query_as(
        "SELECT sequence, amount, reason, status, error, stripe_refund_id, restocked,
                requested_by, requested_at, settled_at
         FROM refunds WHERE order_number = $1 ORDER BY sequence",
    )
    .bind(number)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RefundView {
            refund_number: r.0,
            amount: Minor(r.1),
            reason: r.2,
            status: r.3,
            error: r.4,
            stripe_refund_id: r.5,
            restocked: r.6,
            requested_by: r.7,
            requested_at: r.8,
            settled_at: r.9,
        })
        .collect())
}

/// What the retailer charged for an order against what the customer paid for it. What
/// the business pays its retailers is for ops and finance, never for a storefront.
#[derive(Debug, Serialize)]
pub struct RetailerCharge {
    pub expected_total: Minor,
    pub total_paid: Minor,
    /// `total_paid - expected_total`: negative when the retailer charged less.
    pub difference: Minor,
    /// Over the store's tolerance when the order was placed: an ops alert was raised.
    pub over_tolerance: bool,
}

/// Who reads a checkout or an order: only ops see what the retailer charged, and who
/// made each change and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Storefront,
    Ops,
}

impl From<Role> for Reader {
    fn from(role: Role) -> Self {
        match role {
            Role::Ops => Self::Ops,
            Role::Storefront => Self::Storefront,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ItemView {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    pub unit_price: Minor,
    pub line_total: Minor,
}

impl ItemView {
    /// A line as just priced: what a quote shows and a new checkout records.
    pub fn priced(line: &PricedLine) -> Result<Self, Overflow> {
        Ok(Self {
            sku: line.sku.clone(),
            title: line.title.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total: line.line_total()?,
        })
    }
}

/// One `status_history` row, as ops see it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A status change as the customer's storefront sees it: what changed and when. Who did
/// it (`key:ops-alice`, `system:…`) and why (a dispute id, a retailer's order number, a
/// refund's amount) are the business's own records.
#[derive(Debug, Serialize)]
pub struct StatusChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum History {
    Full(Vec<HistoryEntry>),
    Customer(Vec<StatusChange>),
}

impl History {
    /// Ops read every row. A storefront reads the status changes only: a row whose
    /// status stays the same is a note for ops (a dispute flag), not a change.
    pub fn for_reader(rows: Vec<HistoryEntry>, reader: Reader) -> Self {
        match reader {
            Reader::Ops => Self::Full(rows),
            Reader::Storefront => Self::Customer(
                rows.into_iter()
                    .filter(|r| r.from.as_deref() != Some(r.to.as_str()))
                    .map(|r| StatusChange {
                        order_number: r.order_number,
                        from: r.from,
                        to: r.to,
                        at: r.at,
                    })
                    .collect(),
            ),
        }
    }
}

#[derive(sqlx::FromRow)]
struct CheckoutRow {
    id: String,
    principal: String,
    status: String,
    currency: String,
    subtotal: i64,
    shipping: i64,
    tax: i64,
    total: i64,
    customer: Value,
    shipping_address: Value,
    client_secret: Option<String>,
    decline_code: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    number: String,
    checkout_id: String,
    store_id: String,
    status: String,
    currency: String,
    subtotal: i64,
    shipping: i64,
    tax: i64,
    total: i64,
    store_order_number: Option<String>,
    tracking_number: Option<String>,
    carrier: Option<String>,
    total_paid: Option<i64>,
    paid_over_expected: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    order_number: String,
    sku: String,
    title: String,
    quantity: i32,
    unit_price: i64,
    line_total: i64,
}

const ORDER_COLUMNS: &str = "number, checkout_id, store_id, status, currency, subtotal, shipping, tax, total, store_order_number, tracking_number, carrier, total_paid, paid_over_expected, created_at, updated_at";

pub async fn checkout(
    conn: &mut PgConnection,
    id: &str,
    reader: Reader,
) -> sqlx::Result<Option<CheckoutView>> {
    let Some(row): Option<CheckoutRow> = sqlx::query_as(
        "SELECT id, principal, status, currency, subtotal, shipping, tax, total, customer,
                shipping_address, client_secret, decline_code, created_at, updated_at
         FROM checkouts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let orders: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE checkout_id = $1 ORDER BY store_id"
    )))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let numbers: Vec<String> = orders.iter().map(|o| o.number.clone()).collect();
    let mut items = items_of(conn, &numbers).await?;
    let history: Vec<HistoryEntry> = sqlx::query_as(
        "SELECT order_number, from_status AS from, to_status AS to, actor, reason, at
         FROM status_history WHERE checkout_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let payment = payment_of(conn, id).await?;

    Ok(Some(CheckoutView {
        id: row.id,
        principal: row.principal,
        status: row.status,
        currency: row.currency,
        subtotal: Minor(row.subtotal),
        shipping: Minor(row.shipping),
        tax: Minor(row.tax),
        total: Minor(row.total),
        customer: row.customer,
        shipping_address: row.shipping_address,
        orders: orders
            .into_iter()
            .map(|o| {
                let own = take_items(&mut items, &o.number);
                order_view(o, own, None)
            })
            .collect(),
        history: History::for_reader(history, reader),
        client_secret: row.client_secret,
        decline_code: row.decline_code,
        payment,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }))
}

/// An order and the principal whose checkout it belongs to.
pub async fn order(
    conn: &mut PgConnection,
    number: &str,
    reader: Reader,
) -> sqlx::Result<Option<(String, OrderView)>> {
    let Some(row): Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE number = $1"
    )))
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let principal: String = sqlx::query_scalar("SELECT principal FROM checkouts WHERE id = $1")
        .bind(&row.checkout_id)
        .fetch_one(&mut *conn)
        .await?;
    let items = items_of(conn, std::slice::from_ref(&row.number)).await?;
    let history: Vec<HistoryEntry> = sqlx::query_as(
        "SELECT order_number, from_status AS from, to_status AS to, actor, reason, at
         FROM status_history WHERE order_number = $1 ORDER BY id",
    )
    .bind(number)
    .fetch_all(&mut *conn)
    .await?;
    let items = items.into_iter().map(item_view).collect();
    let (charge, refunds) = match reader {
        Reader::Ops => (retailer_charge(&row), Some(refunds_of(conn, number).await?)),
        Reader::Storefront => (None, None),
    };
    let mut view = order_view(row, items, Some(History::for_reader(history, reader)));
    view.retailer_charge = charge;
    view.refunds = refunds;
    Ok(Some((principal, view)))
}

/// The given orders in the given order, each with its lines and its history, as their
/// storefront sees them (the customer's order listing): the customer's history, no
/// retailer charge. Three statements whatever the number of orders; an unknown number
/// is left out.
pub async fn storefront_orders(
    conn: &mut PgConnection,
    numbers: &[String],
) -> sqlx::Result<Vec<OrderView>> {
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE number = ANY($1)"
    )))
    .bind(numbers)
    .fetch_all(&mut *conn)
    .await?;
    let mut rows: HashMap<String, OrderRow> =
        rows.into_iter().map(|r| (r.number.clone(), r)).collect();
    let mut items = items_of(conn, numbers).await?;
    let history: Vec<HistoryEntry> = sqlx::query_as(
        "SELECT order_number, from_status AS from, to_status AS to, actor, reason, at
         FROM status_history WHERE order_number = ANY($1) ORDER BY id",
    )
    .bind(numbers)
    .fetch_all(&mut *conn)
    .await?;
    let mut history_of: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
    for entry in history {
        if let Some(number) = entry.order_number.clone() {
            history_of.entry(number).or_default().push(entry);
        }
    }
    Ok(numbers
        .iter()
        .filter_map(|number| {
            let row = rows.remove(number)?;
            let own = take_items(&mut items, number);
            let history = history_of.remove(number).unwrap_or_default();
            let history = History::for_reader(history, Reader::Storefront);
            Some(order_view(row, own, Some(history)))
        })
        .collect())
}

async fn payment_of(conn: &mut PgConnection, checkout_id: &str) -> sqlx::Result<PaymentView> {
    let (authorized, captured, refunded): (i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(amount) FILTER (WHERE kind = 'authorize'), 0)::BIGINT,
                COALESCE(sum(amount) FILTER (WHERE kind = 'capture'), 0)::BIGINT,
                COALESCE(sum(amount) FILTER (WHERE kind = 'refund'), 0)::BIGINT
         FROM payment_transactions WHERE checkout_id = $1 AND status = 'succeeded'",
    )
    .bind(checkout_id)
    .fetch_one(conn)
    .await?;
    Ok(PaymentView {
        authorized: Minor(authorized),
        captured: Minor(captured),
        refunded: Minor(refunded),
    })
}

async fn items_of(conn: &mut PgConnection, numbers: &[String]) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(
        "SELECT order_number, sku, title, quantity, unit_price, line_total
         FROM order_items WHERE order_number = ANY($1) ORDER BY order_number, position",
    )
    .bind(numbers)
    .fetch_all(conn)
    .await
}

fn take_items(items: &mut Vec<ItemRow>, number: &str) -> Vec<ItemView> {
    let (own, rest): (Vec<ItemRow>, Vec<ItemRow>) = std::mem::take(items)
        .into_iter()
        .partition(|i| i.order_number == number);
    *items = rest;
    own.into_iter().map(item_view).collect()
}

fn item_view(i: ItemRow) -> ItemView {
    ItemView {
        sku: i.sku,
        title: i.title,
        quantity: i.quantity,
        unit_price: Minor(i.unit_price),
        line_total: Minor(i.line_total),
    }
}

fn retailer_charge(o: &OrderRow) -> Option<RetailerCharge> {
    let paid = o.total_paid?;
    Some(RetailerCharge {
        expected_total: Minor(o.total),
        total_paid: Minor(paid),
        difference: Minor(paid - o.total),
        over_tolerance: o.paid_over_expected.is_some(),
    })
}

fn order_view(o: OrderRow, items: Vec<ItemView>, history: Option<History>) -> OrderView {
    OrderView {
        number: o.number,
        checkout_id: o.checkout_id,
        store: o.store_id,
        status: o.status,
        currency: o.currency,
        subtotal: Minor(o.subtotal),
        shipping: Minor(o.shipping),
        tax: Minor(o.tax),
        total: Minor(o.total),
        items,
        store_order_number: o.store_order_number,
        tracking_number: o.tracking_number,
        carrier: o.carrier,
        created_at: o.created_at,
        updated_at: o.updated_at,
        history,
        retailer_charge: None,
        refunds: None,
    }
}
