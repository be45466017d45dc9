//! Stock holds. A checkout holds its units (skus.reserved) until it is paid and bought,
//! or until the hold expires; the reaper returns expired holds to available stock.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::outbox;
use crate::status::{self, Transition, actor};

/// Holds released per transaction: bounds lock time when a large backlog expires at once.
const REAP_BATCH: i64 = 500;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub holds_released: u64,
    pub checkouts_expired: u64,
}

/// Releases every hold whose expiry has passed. Safe to run from several replicas at
/// once: each batch claims its rows with `FOR UPDATE SKIP LOCKED`.
pub async fn release_expired(pool: &PgPool) -> sqlx::Result<Reaped> {
    let mut total = Reaped::default();
    loop {
        let batch = release_batch(pool).await?;
        total.holds_released += batch.holds_released;
        total.checkouts_expired += batch.checkouts_expired;
        if batch.holds_released < REAP_BATCH as u64 {
            return Ok(total);
        }
    }
}

async fn release_batch(pool: &PgPool) -> sqlx::Result<Reaped> {
    let mut tx = pool.begin().await?;
    let expired: Vec<(i64, String, String, i32)> = sqlx::query_as(
        "SELECT id, checkout_id, sku, quantity FROM reservations
         WHERE status = 'held' AND expires_at <= now()
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(REAP_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if expired.is_empty() {
        return Ok(Reaped::default());
    }

    // SKU rows are locked in sorted order, as intake locks them, so the two never deadlock.
    let mut per_sku: BTreeMap<&str, i32> = BTreeMap::new();
    for (_, _, sku, quantity) in &expired {
        *per_sku.entry(sku.as_str()).or_default() += quantity;
    }
    for (sku, quantity) in &per_sku {
        sqlx::query("UPDATE skus SET reserved = reserved - $2, updated_at = now() WHERE sku = $1")
            .bind(sku)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
    }
    let ids: Vec<i64> = expired.iter().map(|r| r.0).collect();
    sqlx::query(
        "UPDATE reservations SET status = 'released', settled_at = now() WHERE id = ANY($1)",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;

    // A checkout still waiting for payment when its holds run out can no longer be
    // fulfilled as priced: it expires, and so do its orders.
    let checkout_ids: Vec<String> = expired.iter().map(|r| r.1.clone()).collect();
    // Waiting includes 3-D Secure: a customer who never finishes the challenge must not
    // leave the checkout open forever (the drill found it so, docs/reliability.md).
    let expired_checkouts: Vec<(String, String)> = sqlx::query_as(
        "UPDATE checkouts c SET status = $2, updated_at = now()
         FROM checkouts old
         WHERE c.id = old.id AND c.id = ANY($1) AND c.status = ANY($3)
         RETURNING c.id, old.status",
    )
    .bind(&checkout_ids)
    .bind(status::checkout::EXPIRED)
    .bind([status::checkout::PENDING, status::checkout::REQUIRES_ACTION])
    .fetch_all(&mut *tx)
    .await?;
    for (checkout_id, from) in &expired_checkouts {
        expire_checkout(&mut tx, checkout_id, from).await?;
    }
    tx.commit().await?;
    Ok(Reaped {
        holds_released: expired.len() as u64,
        checkouts_expired: expired_checkouts.len() as u64,
    })
}

async fn expire_checkout(
    tx: &mut sqlx::PgConnection,
    checkout_id: &str,
    from: &str,
) -> sqlx::Result<()> {
    const REASON: &str = "stock hold expired before payment";
    status::record(
        tx,
        Transition {
            checkout_id,
            order_number: None,
            from: Some(from),
            to: status::checkout::EXPIRED,
            actor: actor::SYSTEM_REAPER,
            reason: Some(REASON),
        },
    )
    .await?;
    let orders: Vec<(String, String)> = sqlx::query_as(
        "UPDATE orders o SET status = $2, updated_at = now()
         FROM orders old WHERE o.number = old.number AND o.checkout_id = $1
         RETURNING o.number, old.status",
    )
    .bind(checkout_id)
    .bind(status::order::CANCELLED)
    .fetch_all(&mut *tx)
    .await?;
    for (number, from) in &orders {
        status::record(
            tx,
            Transition {
                checkout_id,
                order_number: Some(number),
                from: Some(from),
                to: status::order::CANCELLED,
                actor: actor::SYSTEM_REAPER,
                reason: Some(REASON),
            },
        )
        .await?;
    }
    outbox::enqueue(
        tx,
        "checkout.expired",
        checkout_id,
        &serde_json::json!({ "checkout_id": checkout_id }),
    )
    .await?;
    Ok(())
}
