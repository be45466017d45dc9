//! Reads of the manual queue shared by the ops API and the ops console: the queue
//! listing, one order's placement instructions, and the stats. Writes live in
//! `cartwright_shared::placement::manual_queue`.

use cartwright_shared::money::Minor;
use cartwright_shared::ops_audit::Target;
use cartwright_shared::placement::{self, manual_queue::PlacementError};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use crate::checkout::view::{self, OrderView, Reader};
use crate::error::ApiError;

pub const MAX_PAGE: i64 = 200;
/// The `status` filter's values: `open` is waiting and claimed together.
pub const STATUS_FILTERS: [&str; 7] = [
    "open",
    "waiting",
    "claimed",
    "placed",
    "failed",
    "cancelled",
    "all",
];

#[derive(Debug, Serialize)]
pub struct QueueEntry {
    pub id: i64,
    pub order_number: String,
    pub checkout_id: String,
    pub store: String,
    pub store_name: String,
    pub reason: String,
    /// `waiting` (nobody holds it), `claimed` (a live lease), `placed`, `failed` or
    /// `cancelled`.
    pub status: String,
    pub order_status: String,
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub age_seconds: i64,
    pub currency: String,
    pub total: Minor,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub failure_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    order_number: String,
    checkout_id: String,
    store_id: String,
    store_name: String,
    reason: String,
    status: String,
    order_status: String,
    claimed_by: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    queued_at: DateTime<Utc>,
    age_seconds: i64,
    currency: String,
    total: i64,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    failure_reason: Option<String>,
}

impl From<EntryRow> for QueueEntry {
    fn from(r: EntryRow) -> Self {
        Self {
            id: r.id,
            order_number: r.order_number,
            checkout_id: r.checkout_id,
            store: r.store_id,
            store_name: r.store_name,
            reason: r.reason,
            status: r.status,
            order_status: r.order_status,
            claimed_by: r.claimed_by,
            lease_expires_at: r.lease_expires_at,
            queued_at: r.queued_at,
            age_seconds: r.age_seconds,
            currency: r.currency,
            total: Minor(r.total),
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by,
            failure_reason: r.failure_reason,
        }
    }
}

// A lapsed lease counts as no claim, whether or not the sweep has cleared it yet.
const ENTRY_SELECT: &str =
    "SELECT mp.id, mp.order_number, mp.checkout_id, mp.store_id, s.name AS store_name, mp.reason,
        CASE WHEN mp.status <> 'waiting' THEN mp.status
             WHEN COALESCE(mp.lease_expires_at > now(), false) THEN 'claimed'
             ELSE 'waiting' END AS status,
        o.status AS order_status,
        CASE WHEN mp.lease_expires_at > now() THEN mp.claimed_by END AS claimed_by,
        CASE WHEN mp.lease_expires_at > now() THEN mp.lease_expires_at END AS lease_expires_at,
        mp.queued_at, EXTRACT(EPOCH FROM now() - mp.queued_at)::BIGINT AS age_seconds,
        o.currency, o.total, mp.resolved_at, mp.resolved_by, mp.failure_reason
     FROM manual_placements mp
     JOIN orders o ON o.number = mp.order_number
     JOIN stores s ON s.id = mp.store_id";

/// A checked listing filter.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: String,
    pub store: Option<String>,
    pub reason: Option<String>,
    /// Only entries after this id (pagination: the previous page's `next_after`).
    pub after: Option<i64>,
    pub limit: i64,
}

impl Filter {
    pub fn parse(
        status: Option<String>,
        store: Option<String>,
        reason: Option<String>,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Self, ApiError> {
        let status = status
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "open".to_owned());
        if !STATUS_FILTERS.contains(&status.as_str()) {
            return Err(ApiError::invalid(
                "status",
                format!("status must be one of {}", STATUS_FILTERS.join(", ")),
            ));
        }
        let limit = limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_PAGE}"),
            ));
        }
        let store = store.filter(|s| !s.is_empty());
        let reason = reason.filter(|s| !s.is_empty());
        Ok(Self {
            status,
            store,
            reason,
            after,
            limit,
        })
    }
}

/// Oldest first.
pub async fn list(pool: &PgPool, filter: &Filter) -> sqlx::Result<(Vec<QueueEntry>, Option<i64>)> {
    let rows: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ENTRY_SELECT}
         WHERE ($1 = 'all'
                OR ($1 = 'open' AND mp.status = 'waiting')
                OR ($1 = 'waiting' AND mp.status = 'waiting' AND NOT COALESCE(mp.lease_expires_at > now(), false))
                OR ($1 = 'claimed' AND mp.status = 'waiting' AND COALESCE(mp.lease_expires_at > now(), false))
                OR ($1 IN ('placed', 'failed', 'cancelled') AND mp.status = $1))
           AND ($2::TEXT IS NULL OR mp.store_id = $2)
           AND ($3::TEXT IS NULL OR mp.reason = $3)
           AND ($4::BIGINT IS NULL OR mp.id > $4)
         ORDER BY mp.id LIMIT $5"
    )))
    .bind(&filter.status)
    .bind(&filter.store)
    .bind(&filter.reason)
    .bind(filter.after)
    .bind(filter.limit)
    .fetch_all(pool)
    .await?;
    let next_after = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok((rows.into_iter().map(QueueEntry::from).collect(), next_after))
}

pub async fn entry(conn: &mut PgConnection, number: &str) -> sqlx::Result<Option<QueueEntry>> {
    let row: Option<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ENTRY_SELECT} WHERE mp.order_number = $1"
    )))
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(QueueEntry::from))
}

#[derive(Debug, Serialize)]
pub struct Retailer {
    pub store: String,
    pub name: String,
    pub website_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ItemToBuy {
    pub sku: String,
    pub title: String,
    pub quantity: i32,
    /// The line's options (`{"size": "M"}`) as the SKU had them when it was ordered,
    /// `{}` for none.
    pub options: BTreeMap<String, String>,
    pub expected_unit_price: Minor,
    pub expected_line_total: Minor,
    /// The catalog's price now; differs from the expected price when it moved.
    pub catalog_price: Minor,
    pub price_moved: bool,
}

#[derive(Debug, Serialize)]
pub struct Activity {
    pub actor: String,
    pub action: String,
    pub detail: Value,
    pub at: DateTime<Utc>,
}

/// Everything a person needs to buy one order by hand.
#[derive(Debug, Serialize)]
pub struct Instructions {
    pub placement: QueueEntry,
    pub retailer: Retailer,
    pub steps: Vec<String>,
    pub items: Vec<ItemToBuy>,
    pub shipping_address: Value,
    pub contact: Value,
    /// Which company card to pay with: a reference, never card data.
    pub payment_card: String,
    pub currency: String,
    pub expected_total: Minor,
    pub warnings: Vec<String>,
    pub order: OrderView,
    /// Claims, renewals, expiries, queueing and refunds (ops_audit), oldest first.
    pub activity: Vec<Activity>,
}

pub async fn instructions(
    pool: &PgPool,
    number: &str,
    card_reference: &str,
) -> Result<Option<Instructions>, ApiError> {
    let mut conn = pool.acquire().await?;
    let Some(placement) = entry(&mut conn, number).await? else {
        return Ok(None);
    };
    let Some((_, order)) = view::order(&mut conn, number, Reader::Ops).await? else {
        return Ok(None);
    };
    let retailer: (String, String, Option<String>) =
        sqlx::query_as("SELECT id, name, website_url FROM stores WHERE id = $1")
            .bind(&placement.store)
            .fetch_one(&mut *conn)
            .await?;
    let retailer = Retailer {
        store: retailer.0,
        name: retailer.1,
        website_url: retailer.2,
    };
    let (address, customer): (Value, Value) =
        sqlx::query_as("SELECT shipping_address, customer FROM checkouts WHERE id = $1")
            .bind(&placement.checkout_id)
            .fetch_one(&mut *conn)
            .await?;
    let rows: Vec<(String, String, i32, i64, i64, i64, Value)> = sqlx::query_as(
        "SELECT i.sku, i.title, i.quantity, i.unit_price, i.line_total, s.price, i.options
         FROM order_items i JOIN skus s ON s.sku = i.sku
         WHERE i.order_number = $1 ORDER BY i.position",
    )
    .bind(number)
    .fetch_all(&mut *conn)
    .await?;
    let mut warnings = Vec::new();
    let items: Vec<ItemToBuy> = rows
        .into_iter()
        .map(|(sku, title, quantity, unit, line, now, options)| {
            if unit != now {
                warnings.push(format!(
                    "{sku}: the catalog price moved from {} to {} since the order; the customer pays {}",
                    Minor(unit),
                    Minor(now),
                    Minor(unit)
                ));
            }
            ItemToBuy {
                sku,
                title,
                quantity,
                options: placement::line_options(&options),
                expected_unit_price: Minor(unit),
                expected_line_total: Minor(line),
                catalog_price: Minor(now),
                price_moved: unit != now,
            }
        })
        .collect();
    let activity: Vec<(String, String, Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT actor, action, detail, at FROM ops_audit WHERE target = $1 ORDER BY id",
    )
    .bind(Target::Order(number).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let currency = placement.currency.to_uppercase();
    let site = retailer
        .website_url
        .clone()
        .unwrap_or_else(|| "(no website on file: look the store up)".to_owned());
    let steps = vec![
        format!("Claim the order, then open {site} ({}).", retailer.name),
        "Add each item below to the cart with its quantity and options; compare each price with the expected price.".to_owned(),
        "Enter the shipping address below exactly as shown (use the copy buttons).".to_owned(),
        format!("Pay with {card_reference}."),
        format!(
            "Check the retailer's total is close to {} {currency}, then place the order.",
            placement.total
        ),
        "Record the retailer's order number (and tracking, if shown) with \"Mark placed\"; if it cannot be bought, use \"Mark failed\" with the reason.".to_owned(),
    ];
    let contact = json!({
        "name": customer.get("name").cloned().unwrap_or(Value::Null),
        "phone": customer.get("phone").cloned().unwrap_or(Value::Null),
    });
    Ok(Some(Instructions {
        expected_total: placement.total,
        currency: placement.currency.clone(),
        placement,
        retailer,
        steps,
        items,
        shipping_address: address,
        contact,
        payment_card: card_reference.to_owned(),
        warnings,
        order,
        activity: activity
            .into_iter()
            .map(|(actor, action, detail, at)| Activity {
                actor,
                action,
                detail,
                at,
            })
            .collect(),
    }))
}

/// Counts by status and store, the queue's depth and oldest age, placements per hour.
pub async fn stats(pool: &PgPool) -> sqlx::Result<Value> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?;
    let by_store: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT store_id, status, count(*) FROM orders GROUP BY store_id, status ORDER BY store_id, status",
    )
    .fetch_all(pool)
    .await?;
    let (waiting, claimed, oldest): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT COALESCE(lease_expires_at > now(), false)),
                count(*) FILTER (WHERE COALESCE(lease_expires_at > now(), false)),
                EXTRACT(EPOCH FROM now() - min(queued_at))::BIGINT
         FROM manual_placements WHERE status = 'waiting'",
    )
    .fetch_one(pool)
    .await?;
    let per_hour: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT date_trunc('hour', at), count(*) FROM status_history
         WHERE to_status = 'placed' AND at > now() - interval '24 hours'
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let last_hour: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM status_history WHERE to_status = 'placed' AND at > now() - interval '1 hour'",
    )
    .fetch_one(pool)
    .await?;
    let mut stores: Map<String, Value> = Map::new();
    for (store, status, n) in by_store {
        let entry = stores.entry(store).or_insert_with(|| json!({}));
        entry[status] = json!(n);
    }
    Ok(json!({
        "orders_by_status": by_status.into_iter().map(|(s, n)| (s, json!(n))).collect::<Map<_, _>>(),
        "orders_by_store": stores,
        "queue": {
            "waiting": waiting,
            "claimed": claimed,
            "oldest_waiting_age_seconds": oldest,
        },
        "placements_last_hour": last_hour,
        "placements_per_hour": per_hour
            .into_iter()
            .map(|(hour, placed)| json!({ "hour": hour, "placed": placed }))
            .collect::<Vec<_>>(),
    }))
}

/// The API's answer to a refused queue action.
pub fn error(err: PlacementError) -> ApiError {
    let message = err.to_string();
    match err {
        PlacementError::NotQueued(number) => ApiError::NotFound(format!("queued order {number}")),
        PlacementError::NoSuchOrder(number) => ApiError::NotFound(format!("order {number}")),
        PlacementError::AlreadyClaimed { .. } => ApiError::Conflict {
            code: "already_claimed",
            message,
        },
        PlacementError::NotHolder { .. } => ApiError::Conflict {
            code: "not_lease_holder",
            message,
        },
        PlacementError::Closed { .. } => ApiError::Conflict {
            code: "placement_closed",
            message,
        },
        PlacementError::InvalidStatus { .. } => ApiError::Conflict {
            code: "invalid_status",
            message,
        },
        PlacementError::AuthorizationEnding(_) => ApiError::Conflict {
            code: "authorization_ending",
            message,
        },
        PlacementError::Database(err) => err.into(),
    }
}
