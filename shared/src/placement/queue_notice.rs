//! Telling ops that work waits: when orders have entered the manual queue since the last
//! notice, one `ops.alert` (kind `orders_waiting`) lists every order waiting and for how
//! long, at most once per period however many arrive, so a busy day is one email every
//! few minutes rather than one per order. The alert worker emails `OPS_ALERT_EMAILS` and
//! calls the alert webhook, as for every ops alert.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::ops_alert::{self, OpsAlert};

pub const KIND: &str = "orders_waiting";
/// The alert's target, and the aggregate its event is ordered under.
pub const TARGET: &str = "manual_queue";
/// At most this many orders are named; the count covers the rest.
const LISTED: i64 = 100;

#[derive(sqlx::FromRow)]
struct Waiting {
    order_number: String,
    store_id: String,
    reason: String,
    claimed_by: Option<String>,
    queued_at: DateTime<Utc>,
    new: bool,
}

/// One waiting order in the alert's detail.
#[derive(Serialize)]
struct Listed<'a> {
    order_number: &'a str,
    store: &'a str,
    reason: &'a str,
    waiting_minutes: i64,
    /// Who holds it now, if anyone has claimed it.
    claimed_by: Option<&'a str>,
    /// Entered the queue since the last notice.
    new: bool,
}

/// Raises the notice if one is due: an order has entered the queue since the last, and
/// the last is at least `period` old. Returns how many orders wait when it raised one.
/// Safe with several schedulers at once: they take turns on the notice's row.
pub async fn notify_if_due(
    pool: &PgPool,
    period: Duration,
    actor: &str,
) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let due: Option<bool> = sqlx::query_scalar(
        "SELECT sent_at <= now() - make_interval(secs => $2) FROM ops_notices
         WHERE kind = $1 FOR UPDATE",
    )
    .bind(KIND)
    .bind(period.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    if due != Some(true) {
        return Ok(None);
    }
    // The rows this notice announces, and marks: one committed after this read is new
    // for the next notice.
    let announced: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM manual_placements WHERE status = 'waiting' AND ops_notified_at IS NULL",
    )
    .fetch_all(&mut *tx)
    .await?;
    if announced.is_empty() {
        return Ok(None);
    }
    let new = announced.len();
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM manual_placements WHERE status = 'waiting'")
            .fetch_one(&mut *tx)
            .await?;
    // Oldest first: what has waited longest is what ops should see first.
    let rows: Vec<Waiting> = sqlx::query_as(
        "SELECT order_number, store_id, reason, claimed_by, queued_at,
                ops_notified_at IS NULL AS new
         FROM manual_placements WHERE status = 'waiting'
         ORDER BY queued_at, id LIMIT $1",
    )
    .bind(LISTED)
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let minutes = |at: DateTime<Utc>| (now - at).num_minutes().max(0);
    let oldest = rows.first().map_or(0, |r| minutes(r.queued_at));
    let listed: Vec<Listed> = rows
        .iter()
        .map(|r| Listed {
            order_number: &r.order_number,
            store: &r.store_id,
            reason: &r.reason,
            waiting_minutes: minutes(r.queued_at),
            claimed_by: r.claimed_by.as_deref(),
            new: r.new,
        })
        .collect();
    let alert = OpsAlert {
        kind: KIND.to_owned(),
        target: TARGET.to_owned(),
        message: format!(
            "{waiting} {} in the manual queue, {new} new since the last notice; the oldest has \
             waited {oldest} min.",
            if waiting == 1 {
                "order waits"
            } else {
                "orders wait"
            }
        ),
        detail: serde_json::json!({
            "waiting": waiting,
            "new": new,
            "oldest_waiting_minutes": oldest,
            "orders": listed,
        }),
    };
    ops_alert::raise(&mut tx, actor, TARGET, &alert).await?;
    sqlx::query("UPDATE manual_placements SET ops_notified_at = now() WHERE id = ANY($1)")
        .bind(&announced)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE ops_notices SET sent_at = now() WHERE kind = $1")
        .bind(KIND)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(waiting))
}
