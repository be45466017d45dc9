//! Settling a checkout's stock holds: units of bought orders leave stock, the rest go
//! back to available. SKU rows are locked in SKU order, as intake and the reaper lock
//! them, so none of them deadlock.

use std::collections::BTreeMap;

use sqlx::PgConnection;

/// Commits the held reservations of the orders in `bought` and releases every other
/// hold of the checkout.
pub async fn settle(
    conn: &mut PgConnection,
    checkout_id: &str,
    bought: &[String],
) -> sqlx::Result<()> {
    let held: Vec<(i64, String, String, i32)> = sqlx::query_as(
        "SELECT id, order_number, sku, quantity FROM reservations
         WHERE checkout_id = $1 AND status = 'held' ORDER BY sku, id FOR UPDATE",
    )
    .bind(checkout_id)
    .fetch_all(&mut *conn)
    .await?;
    // sku → (units bought, units held in all)
    let mut per_sku: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    let (mut committed, mut released) = (Vec::new(), Vec::new());
    for (id, order, sku, quantity) in &held {
        let entry = per_sku.entry(sku.as_str()).or_default();
        entry.1 += quantity;
        if bought.contains(order) {
            entry.0 += quantity;
            committed.push(*id);
        } else {
            released.push(*id);
        }
    }
    for (sku, (bought, held)) in &per_sku {
        sqlx::query(
            "UPDATE skus SET stock = stock - $2, reserved = reserved - $3, updated_at = now()
             WHERE sku = $1",
        )
        .bind(sku)
        .bind(bought)
        .bind(held)
        .execute(&mut *conn)
        .await?;
    }
    for (ids, status) in [(committed, "committed"), (released, "released")] {
        sqlx::query("UPDATE reservations SET status = $2, settled_at = now() WHERE id = ANY($1)")
            .bind(&ids)
            .bind(status)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Releases every hold of the checkout (payment failed, nothing bought).
pub async fn release_all(conn: &mut PgConnection, checkout_id: &str) -> sqlx::Result<()> {
    settle(conn, checkout_id, &[]).await
}
