//! Settlement: capture the placed orders' sum once, or cancel when nothing was placed;
//! bought stock leaves, the rest returns; the capture-deadline guard.

use cartwright_workers::payments::deadline;
use stripe_core::payment_intent::{CancelPaymentIntent, CapturePaymentIntent};

use crate::common::World;

async fn reserved(world: &World, sku: &str) -> (i64, i64) {
    sqlx::query_as("SELECT stock::BIGINT, reserved::BIGINT FROM skus WHERE sku = $1")
        .bind(sku)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn both_orders_placed_are_captured_once_for_the_total() {
    let world = World::start().await;
    let before = reserved(&world, "NORD-1001").await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    // Both events at once: two settlers race; the capture still happens once.
    for number in &orders {
        world.order_outcome(&id, number, true).await;
    }
    world.wait_for(&id, "completed").await;

    let total: i64 = sqlx::query_scalar("SELECT total FROM checkouts WHERE id = $1")
        .bind(&id)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap();
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"].as_array().unwrap().len(), 1);
    assert_eq!(ledger["payment_intents"][0]["captured"], total);
    assert_eq!(ledger["payment_intents"][0]["status"], "succeeded");
    let view = world.checkout(&id).await;
    assert_eq!(view["payment"]["captured"], view["total"]);
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM payment_transactions WHERE checkout_id = '{id}' AND kind = 'capture'"
            ))
            .await,
        1
    );
    // Two units of NORD-1001 were bought: out of stock and out of the holds.
    assert_eq!(
        reserved(&world, "NORD-1001").await,
        (before.0 - 2, before.1)
    );
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM outbox WHERE message_type = 'checkout.completed' AND aggregate_id = '{id}'"
            ))
            .await,
        1
    );
    world.env.stop().await;
}

#[tokio::test]
async fn one_placed_one_failed_captures_the_placed_order_only() {
    let world = World::start().await;
    let before = reserved(&world, "NORD-1001").await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    let (placed, failed) = (&orders[0], &orders[1]);
    world.order_outcome(&id, placed, true).await;
    world.order_outcome(&id, failed, false).await;
    world.wait_for(&id, "completed").await;

    let placed_total = world.order_total(placed).await;
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["captured"], placed_total);
    let view = world.checkout(&id).await;
    assert_eq!(view["payment"]["captured"], view["orders"][0]["total"]);
    // NORD-1001 is in the first order (orders are sorted by store): bought.
    assert_eq!(
        reserved(&world, "NORD-1001").await,
        (before.0 - 2, before.1)
    );
    let (committed, released): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'committed'), count(*) FILTER (WHERE status = 'released')
         FROM reservations WHERE checkout_id = $1",
    )
    .bind(&id)
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!((committed, released), (1, 1));
    world.env.stop().await;
}

#[tokio::test]
async fn nothing_placed_cancels_the_authorization_and_captures_nothing() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    for number in &orders {
        world.order_outcome(&id, number, false).await;
    }
    world.wait_for(&id, "cancelled").await;
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["status"], "canceled");
    assert_eq!(ledger["payment_intents"][0]["captured"], 0);
    assert_eq!(world.checkout(&id).await["payment"]["captured"], "0.00");
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM reservations WHERE checkout_id = '{id}' AND status <> 'released'"
            ))
            .await,
        0
    );
    world.env.stop().await;
}

#[tokio::test]
async fn the_capture_deadline_guard_captures_what_is_placed_and_fails_the_rest() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    // One order placed (without its event), the other still waiting at the deadline.
    sqlx::query("UPDATE orders SET status = 'placed' WHERE number = $1")
        .bind(&orders[0])
        .execute(&world.env.app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE checkouts SET capture_before = now() + interval '1 hour' WHERE id = $1")
        .bind(&id)
        .execute(&world.env.app.pool)
        .await
        .unwrap();

    let settled = deadline::run_once(&world.env.app.pool, &world.stripe())
        .await
        .unwrap();
    assert_eq!(settled, 1);
    assert_eq!(world.status(&id).await, "completed");
    let ledger = world.ledger().await;
    assert_eq!(
        ledger["payment_intents"][0]["captured"],
        world.order_total(&orders[0]).await
    );
    let failed: String = sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(&orders[1])
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap();
    assert_eq!(failed, "failed");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ops_audit WHERE action = 'payments.capture_deadline'")
            .await,
        1
    );
    // A second pass (another replica) finds nothing to do.
    assert_eq!(
        deadline::run_once(&world.env.app.pool, &world.stripe())
            .await
            .unwrap(),
        0
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_capture_or_cancel_stripe_already_made_is_recorded_not_sent_again() {
    let world = World::start().await;
    let stripe = world.outside_client();

    // An earlier run captured at Stripe and never committed; its key is forgotten.
    let (captured, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&captured, "authorized").await;
    let pi = world.payment_intent_id(&captured).await;
    let total: i64 = sqlx::query_scalar("SELECT total FROM checkouts WHERE id = $1")
        .bind(&captured)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap();
    CapturePaymentIntent::new(pi.as_str())
        .amount_to_capture(total)
        .send(&stripe)
        .await
        .unwrap();
    for number in &orders {
        world.order_outcome(&captured, number, true).await;
    }
    world.wait_for(&captured, "completed").await;
    let view = world.checkout(&captured).await;
    assert_eq!(view["payment"]["captured"], view["total"]);

    // The same for a cancel.
    let (cancelled, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&cancelled, "authorized").await;
    let cancelled_pi = world.payment_intent_id(&cancelled).await;
    CancelPaymentIntent::new(cancelled_pi.as_str())
        .send(&stripe)
        .await
        .unwrap();
    for number in &orders {
        world.order_outcome(&cancelled, number, false).await;
    }
    world.wait_for(&cancelled, "cancelled").await;
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM reservations WHERE checkout_id = '{cancelled}' AND status = 'held'"
            ))
            .await,
        0
    );

    let ledger = world.ledger().await;
    let intents = ledger["payment_intents"].as_array().unwrap();
    assert_eq!(intents.len(), 2);
    let by_id = |id: &str| intents.iter().find(|p| p["id"] == id).unwrap().clone();
    assert_eq!(by_id(&pi)["captured"], total, "captured once, in full");
    assert_eq!(by_id(&cancelled_pi)["status"], "canceled");
    world.env.stop().await;
}
