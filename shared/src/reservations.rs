//! Stock holds. A checkout holds its units (skus.reserved) until it is paid and bought,
//! or until the hold expires; the reaper returns expired holds to available stock.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::outbox;
use crate::status::{self, Transition, actor};

/// Checkouts expired per transaction: bounds lock time when a large backlog expires at once.
const REAP_BATCH: i64 = 200;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub holds_released: u64,
    pub checkouts_expired: u64,
}

/// Expires the checkouts still waiting for payment (`pending`, `requires_action`) whose
/// holds have run out, and releases those holds. Holds of any other checkout are left
/// alone: an authorized checkout's units are being bought, and only its settlement
/// commits or releases them (its holds last until `capture_before`, and a settlement
/// that cannot finish raises an ops alert rather than putting bought units back on
/// sale). Safe to run from several replicas at once: a batch locks its checkouts in id
/// order, and a replica that waited for another's finds them expired and skips them.
pub async fn release_expired(pool: &PgPool) -> sqlx::Result<Reaped> {
    let mut total = Reaped::default();
    loop {
        let batch = release_batch(pool).await?;
        total.holds_released += batch.holds_released;
        total.checkouts_expired += batch.checkouts_expired;
        if batch.checkouts_expired < REAP_BATCH as u64 {
            return Ok(total);
        }
    }
}

async fn release_batch(pool: &PgPool) -> sqlx::Result<Reaped> {
    let mut tx = pool.begin().await?;
    // The checkout row is locked first, as the payment worker locks it before it
    // records an authorization: the two take turns, and a checkout authorized while the
    // reaper waited fails the status re-check on the locked row and is left alone.
    // Waiting, not SKIP LOCKED: a checkout locked for a moment (a webhook being
    // applied) must still expire in this pass.
    let waiting = [status::checkout::PENDING, status::checkout::REQUIRES_ACTION];
    let checkouts: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.id, c.status FROM checkouts c
         WHERE c.status = ANY($1)
           AND EXISTS (SELECT 1 FROM reservations r
                       WHERE r.checkout_id = c.id AND r.status = 'held' AND r.expires_at <= now())
         ORDER BY c.id LIMIT $2 FOR UPDATE",
    )
    .bind(&waiting[..])
    .bind(REAP_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if checkouts.is_empty() {
        return Ok(Reaped::default());
    }
    let ids: Vec<&str> = checkouts.iter().map(|(id, _)| id.as_str()).collect();
    let released: Vec<(String, i32)> = sqlx::query_as(
        "UPDATE reservations SET status = 'released', settled_at = now()
         WHERE checkout_id = ANY($1) AND status = 'held'
         RETURNING sku, quantity",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;

    // SKU rows are updated in sorted order, as intake locks them, so the two never deadlock.
    let mut per_sku: BTreeMap<&str, i32> = BTreeMap::new();
    for (sku, quantity) in &released {
        *per_sku.entry(sku.as_str()).or_default() += quantity;
    }
    for (sku, quantity) in &per_sku {
        sqlx::query("UPDATE skus SET reserved = reserved - $2, updated_at = now() WHERE sku = $1")
            .bind(sku)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
    }

    // A checkout still waiting for payment when its holds run out can no longer be
    // fulfilled as priced: it expires, and so do its orders. That includes one still
    // waiting for the customer's 3-D Secure: the payment worker cancels its
    // PaymentIntent on `checkout.expired`.
    sqlx::query("UPDATE checkouts SET status = $2, updated_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .bind(status::checkout::EXPIRED)
        .execute(&mut *tx)
        .await?;
    for (checkout_id, from) in &checkouts {
        expire_checkout(&mut tx, checkout_id, from).await?;
    }
    tx.commit().await?;
    Ok(Reaped {
        holds_released: released.len() as u64,
        checkouts_expired: checkouts.len() as u64,
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
