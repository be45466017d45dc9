//! Settlement: capture the placed orders' sum once, or cancel when nothing was placed;
//! bought stock leaves, the rest returns; the capture-deadline guard.

use std::time::Duration;

use cartwright_shared::placement::ManualPlacement;
use cartwright_shared::placement::manual_queue::{self, PlacementError};
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

async fn exec(world: &World, sql: &str, bind: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(bind)
        .execute(&world.env.app.pool)
        .await
        .unwrap();
}

async fn order_status(world: &World, number: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(number)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap()
}

/// The checkout's authorization must be captured within `within` (an interval).
async fn lapses_in(world: &World, checkout_id: &str, within: &str) {
    sqlx::query("UPDATE checkouts SET capture_before = now() + $2::interval WHERE id = $1")
        .bind(checkout_id)
        .bind(within)
        .execute(&world.env.app.pool)
        .await
        .unwrap();
}

async fn guard(world: &World) -> usize {
    deadline::run_once(&world.env.app.pool, &world.stripe())
        .await
        .unwrap()
}

/// The order waits in the manual queue, as the intake worker leaves it.
async fn queue_for_ops(world: &World, checkout_id: &str, number: &str) {
    let store: String = sqlx::query_scalar("SELECT store_id FROM orders WHERE number = $1")
        .bind(number)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap();
    let mut tx = world.env.app.pool.begin().await.unwrap();
    let message = ManualPlacement {
        checkout_id: checkout_id.to_owned(),
        order_number: number.to_owned(),
        store_id: store,
        reason: "store_is_manual".to_owned(),
    };
    manual_queue::enqueue(&mut tx, &message, "system:placement-manual")
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_capture_deadline_guard_captures_what_is_placed_and_fails_the_rest() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    // One order placed (without its event), the other waiting in the manual queue.
    exec(
        &world,
        "UPDATE orders SET status = 'placed' WHERE number = $1",
        &orders[0],
    )
    .await;
    queue_for_ops(&world, &id, &orders[1]).await;
    lapses_in(&world, &id, "1 hour").await;

    // The guard settles, or the payment worker does on the guard's `order.failed`.
    assert!(guard(&world).await <= 1);
    world.wait_for(&id, "completed").await;
    let ledger = world.ledger().await;
    assert_eq!(
        ledger["payment_intents"][0]["captured"],
        world.order_total(&orders[0]).await
    );
    assert_eq!(order_status(&world, &orders[1]).await, "failed");
    // The customer is told (before the fix no `order.failed` went out) …
    let failed: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE message_type = 'order.failed' ORDER BY id",
    )
    .fetch_all(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["order_number"], orders[1].as_str());
    assert_eq!(failed[0]["checkout_id"], id.as_str());
    assert!(failed[0]["store_id"].is_string() && failed[0]["reason"].is_string());
    // … and the order left the manual queue, so nobody can claim and buy it.
    let queued: String =
        sqlx::query_scalar("SELECT status FROM manual_placements WHERE order_number = $1")
            .bind(&orders[1])
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    assert_eq!(queued, "failed");
    let claim = manual_queue::claim(
        &world.env.app.pool,
        &orders[1],
        "key:ops-alice",
        Duration::from_secs(600),
    )
    .await;
    assert!(
        matches!(claim, Err(PlacementError::Closed { .. })),
        "{claim:?}"
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ops_audit WHERE action = 'payments.capture_deadline'")
            .await,
        1
    );
    // A second pass (another replica) finds nothing to do.
    assert_eq!(guard(&world).await, 0);
    world.env.stop().await;
}

/// The guard never fails an order mid-submit: it waits for the outcome, and when the
/// authorization is about to lapse it captures what is placed and hands the order to
/// ops as `needs_verification`, with an alert. Before the fix it failed the order at
/// once, and a purchase landing after that was never paid for.
#[tokio::test]
async fn the_capture_deadline_guard_waits_for_an_order_being_submitted() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    exec(
        &world,
        "UPDATE orders SET status = 'placed' WHERE number = $1",
        &orders[0],
    )
    .await;
    exec(
        &world,
        "UPDATE orders SET status = 'placing' WHERE number = $1",
        &orders[1],
    )
    .await;
    exec(
        &world,
        "INSERT INTO placement_attempts (order_number, store_id, message_id, delivery, state, submitting_at)
         SELECT number, store_id, gen_random_uuid(), 0, 'submitting', now() FROM orders WHERE number = $1",
        &orders[1],
    )
    .await;

    // Inside the margin, not yet the last call: it waits.
    lapses_in(&world, &id, "6 hours").await;
    assert_eq!(guard(&world).await, 0);
    assert_eq!(order_status(&world, &orders[1]).await, "placing");
    assert_eq!(world.status(&id).await, "authorized");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM outbox WHERE message_type = 'order.failed'")
            .await,
        0
    );

    // The last call: capture what is placed; the order submitted goes to ops.
    lapses_in(&world, &id, "30 minutes").await;
    assert_eq!(guard(&world).await, 1);
    assert_eq!(world.status(&id).await, "completed");
    let ledger = world.ledger().await;
    assert_eq!(
        ledger["payment_intents"][0]["captured"],
        world.order_total(&orders[0]).await
    );
    assert_eq!(order_status(&world, &orders[1]).await, "needs_verification");
    let attempt: String =
        sqlx::query_scalar("SELECT state FROM placement_attempts WHERE order_number = $1")
            .bind(&orders[1])
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    assert_eq!(attempt, "needs_verification");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM outbox WHERE message_type = 'order.failed'")
            .await,
        0,
        "an order that may have been bought is not reported failed"
    );
    let alert: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = 'ops.alert'")
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    assert_eq!(alert["kind"], "unverified_at_capture_deadline");
    assert_eq!(alert["detail"]["orders"][0], orders[1].as_str());
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ops_audit WHERE action = 'alert.unverified_at_capture_deadline'")
            .await,
        1
    );
    world.env.stop().await;
}

/// Settlement that keeps failing: the holds stay (the reaper leaves an authorized
/// checkout's units alone, so bought units never go back on sale), and ops are alerted
/// once instead of a log line every pass. Before the fix the reaper released the holds
/// at `capture_before`, and nobody was told.
#[tokio::test]
async fn a_settlement_that_cannot_finish_keeps_its_holds_and_alerts_ops_once() {
    let world = World::start().await;
    let before = reserved(&world, "NORD-1001").await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    for number in &orders {
        exec(
            &world,
            "UPDATE orders SET status = 'placed' WHERE number = $1",
            number,
        )
        .await;
    }
    let pi = world.payment_intent_id(&id).await;
    world
        .control(
            "/_emulator/faults",
            serde_json::json!({"kind": "server_error", "count": 1000,
                               "path_prefix": format!("/v1/payment_intents/{pi}/capture")}),
        )
        .await;
    // The holds have run out (they last until `capture_before`) and the reaper runs.
    lapses_in(&world, &id, "-1 minute").await;
    exec(
        &world,
        "UPDATE reservations SET expires_at = now() - interval '1 minute' WHERE checkout_id = $1",
        &id,
    )
    .await;
    let reaped = cartwright_shared::reservations::release_expired(&world.env.app.pool)
        .await
        .unwrap();
    assert_eq!(reaped.holds_released, 0);
    assert_eq!(reserved(&world, "NORD-1001").await.1, before.1 + 2);

    for _ in 0..2 {
        assert_eq!(guard(&world).await, 0);
    }
    assert_eq!(world.status(&id).await, "authorized");
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM ops_audit WHERE action = 'alert.settlement_stuck'")
            .await,
        1
    );
    let alert: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = 'ops.alert'")
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    assert_eq!(alert["kind"], "settlement_stuck");
    assert_eq!(alert["target"], format!("checkout:{id}"));

    // Stripe answers again: the next pass settles, and the bought units leave stock.
    let cleared = world
        .http
        .delete(world.emulator.url("/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    assert_eq!(guard(&world).await, 1);
    assert_eq!(world.status(&id).await, "completed");
    assert_eq!(
        reserved(&world, "NORD-1001").await,
        (before.0 - 2, before.1)
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
