//! Authorization outcomes: approved, declined, 3-D Secure, and Stripe failing first.

use cartwright_testkit::broker::eventually;
use cartwright_workers::payments::Payments;
use serde_json::json;

use crate::common::{WAIT, World};

#[tokio::test]
async fn an_approved_card_authorizes_and_readies_every_order() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;

    let view = world.checkout(&id).await;
    assert_eq!(view["payment"]["authorized"], view["total"]);
    assert_eq!(view["payment"]["captured"], "0.00");
    assert!(view["client_secret"].is_null());
    // The demo checkout's stores place automatically: each order goes straight to the
    // browser worker, with no router hop (no order.ready_for_placement).
    for order in view["orders"].as_array().unwrap() {
        assert_eq!(order["status"], "placing");
    }
    let automated = world
        .scalar(&format!(
            "SELECT count(*) FROM outbox WHERE message_type = 'order.automated_placement' AND aggregate_id = '{id}'"
        ))
        .await;
    assert_eq!(automated, orders.len() as i64);
    let hops = world
        .scalar(&format!(
            "SELECT count(*) FROM outbox WHERE message_type IN ('order.ready_for_placement', 'order.manual_placement') AND aggregate_id = '{id}'"
        ))
        .await;
    assert_eq!(hops, 0);
    // Its holds are no longer the reaper's: run out, they stay held and it stays paid.
    let reaped = world.env.app.run_out_holds(&id).await;
    assert_eq!(reaped.holds_released, 0);
    assert_eq!(world.status(&id).await, "authorized");
    let ledger = world.ledger().await;
    assert_eq!(
        ledger["payment_intents"][0]["idempotency_key"],
        format!("{id}:authorize")
    );
    assert_eq!(
        ledger["payment_intents"][0]["metadata"]["checkout_id"],
        id.as_str()
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_and_returns_the_stock() {
    let world = World::start().await;
    let reserved_before = world.scalar("SELECT sum(reserved) FROM skus").await;
    let (id, _) = world.submit("pm_card_chargeDeclined").await;
    world.wait_for(&id, "payment_failed").await;

    let view = world.checkout(&id).await;
    assert_eq!(view["decline_code"], "generic_decline");
    for order in view["orders"].as_array().unwrap() {
        assert_eq!(order["status"], "cancelled");
    }
    assert_eq!(
        world.scalar("SELECT sum(reserved) FROM skus").await,
        reserved_before
    );
    let released = world
        .scalar(&format!(
            "SELECT count(*) FROM reservations WHERE checkout_id = '{id}' AND status <> 'released'"
        ))
        .await;
    assert_eq!(released, 0);
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE message_type = 'payment.failed' AND aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(payload["decline_code"], "generic_decline");
    assert!(payload["reason"].as_str().unwrap().contains("declined"));
    world.env.stop().await;
}

#[tokio::test]
async fn three_d_secure_waits_for_the_customer_then_a_webhook_completes_it() {
    let world = World::start().await;
    let (id, orders, pi) = world.waiting_for_3ds().await;
    let view = world.checkout(&id).await;
    let secret = view["client_secret"]
        .as_str()
        .expect("client_secret while 3DS is pending");
    assert!(secret.starts_with("pi_"));

    world.pass_3ds(&pi).await;
    // The emulator's signed webhook reaches the API; the stripe-events worker re-reads
    // the PaymentIntent and authorizes the checkout.
    world.wait_for(&id, "authorized").await;
    assert!(world.checkout(&id).await["client_secret"].is_null());

    for number in &orders {
        world.order_outcome(&id, number, true).await;
    }
    world.wait_for(&id, "completed").await;
    let mut total = 0;
    for number in &orders {
        total += world.order_total(number).await;
    }
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["captured"], total);
    world.env.stop().await;
}

async fn intent_status(world: &World, pi: &str) -> String {
    let ledger = world.ledger().await;
    let rows = ledger["payment_intents"]
        .as_array()
        .expect("payment_intents");
    let row = rows
        .iter()
        .find(|r| r["id"] == pi)
        .expect("the checkout's PaymentIntent");
    row["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn holds_running_out_during_3_d_secure_expire_the_checkout_and_cancel_the_intent() {
    let world = World::start().await;
    let reserved_before = world.scalar("SELECT sum(reserved) FROM skus").await;
    let (id, _, pi) = world.waiting_for_3ds().await;

    world.env.app.run_out_holds(&id).await;
    assert_eq!(world.status(&id).await, "expired");
    assert_eq!(
        world.scalar("SELECT sum(reserved) FROM skus").await,
        reserved_before
    );
    // The customer can no longer finish paying for what is no longer held for them.
    let cancels = format!(
        "SELECT count(*) FROM payment_transactions WHERE checkout_id = '{id}' AND kind = 'cancel'"
    );
    eventually(WAIT, "the cancel to be in the ledger", || async {
        world.scalar(&cancels).await > 0
    })
    .await;
    assert_eq!(intent_status(&world, &pi).await, "canceled");
    assert_eq!(world.scalar(&cancels).await, 1);
    world.env.stop().await;
}

#[tokio::test]
async fn a_3_d_secure_finished_after_expiry_charges_nothing() {
    // No emulator webhooks: the test decides when the worker hears of the 3DS result.
    let world = World::without_emulator_webhooks().await;
    let (id, orders, pi) = world.waiting_for_3ds().await;
    world.pass_3ds(&pi).await;
    assert_eq!(intent_status(&world, &pi).await, "requires_capture");

    world.env.app.run_out_holds(&id).await;
    eventually(WAIT, "the late authorization to be canceled", || async {
        intent_status(&world, &pi).await == "canceled"
    })
    .await;
    assert_eq!(world.status(&id).await, "expired");
    for number in &orders {
        let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
            .bind(number)
            .fetch_one(&world.env.app.pool)
            .await
            .expect("order");
        assert_eq!(status, "cancelled", "order {number}");
    }
    assert_eq!(world.ledger().await["payment_intents"][0]["captured"], 0);
    world.env.stop().await;
}

#[tokio::test]
async fn a_stripe_500_is_retried_with_the_same_key_and_charges_once() {
    let world = World::start().await;
    world
        .control(
            "/_emulator/faults",
            json!({"kind": "server_error", "count": 1, "path_prefix": "/v1/payment_intents", "method": "POST"}),
        )
        .await;
    let (id, _) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    let ledger = world.ledger().await;
    assert_eq!(ledger["counters"]["faults_injected"], 1);
    assert_eq!(ledger["counters"]["payment_intents_created"], 1);
    assert_eq!(ledger["payment_intents"].as_array().unwrap().len(), 1);
    world.env.stop().await;
}

#[tokio::test]
async fn a_lost_response_is_retried_and_replayed_not_charged_again() {
    let world = World::start().await;
    world
        .control(
            "/_emulator/faults",
            json!({"kind": "lost_response", "count": 1, "path_prefix": "/v1/payment_intents", "method": "POST"}),
        )
        .await;
    let (id, _) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    // Either the retry got Stripe's saved answer, or the webhook of the authorization
    // got there first and the retry found the checkout authorized: one PaymentIntent.
    let ledger = world.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 1);
    assert_eq!(ledger["payment_intents"].as_array().unwrap().len(), 1);
    world.env.stop().await;
}

#[tokio::test]
async fn a_checkout_no_longer_pending_is_not_authorized() {
    let mut world = World::idle().await;
    let (id, _) = world.submit("pm_card_visa").await;
    sqlx::query("UPDATE checkouts SET status = 'expired' WHERE id = $1")
        .bind(&id)
        .execute(&world.env.app.pool)
        .await
        .unwrap();
    world.env.spawn_relay();
    world.env.spawn_handler(Payments {
        stripe: world.stripe(),
    });
    eventually(WAIT, "checkout.submitted to be handled", || async {
        world
            .scalar("SELECT count(*) FROM inbox WHERE consumer = 'payments'")
            .await
            == 1
    })
    .await;
    let ledger = world.ledger().await;
    assert_eq!(ledger["counters"]["payment_intent_create_requests"], 0);
    assert_eq!(world.status(&id).await, "expired");
    world.env.stop().await;
}

#[tokio::test]
async fn a_payment_method_stripe_does_not_know_fails_the_payment_instead_of_dead_lettering() {
    let mut world = World::start().await;
    world
        .env
        .spawn_archiver_for(vec![cartwright_shared::queue::work_queues::payments()]);
    let reserved_before = world.scalar("SELECT sum(reserved) FROM skus").await;
    let (id, _) = world.submit("pm_x").await;
    world.wait_for(&id, "payment_failed").await;

    let view = world.checkout(&id).await;
    assert_eq!(view["decline_code"], "invalid_payment_method");
    for order in view["orders"].as_array().unwrap() {
        assert_eq!(order["status"], "cancelled");
    }
    assert_eq!(
        world.scalar("SELECT sum(reserved) FROM skus").await,
        reserved_before,
        "the holds are released"
    );
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE message_type = 'payment.failed' AND aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(payload["decline_code"], "invalid_payment_method");
    assert_eq!(payload["reason"], "the payment method could not be used");

    // A decline from Stripe's documented list ends the same way, with the issuer's code.
    let (declined, _) = world
        .submit("pm_card_visa_chargeDeclinedInsufficientFunds")
        .await;
    world.wait_for(&declined, "payment_failed").await;
    assert_eq!(
        world.checkout(&declined).await["decline_code"],
        "insufficient_funds"
    );
    assert_eq!(world.scalar("SELECT count(*) FROM dead_letters").await, 0);
    world.env.stop().await;
}

#[tokio::test]
async fn a_currency_stripe_does_not_know_is_dead_lettered_never_charged_as_usd() {
    let mut world = World::idle().await;
    let (id, _) = world.submit("pm_card_visa").await;
    sqlx::query("UPDATE checkouts SET currency = 'xyz' WHERE id = $1")
        .bind(&id)
        .execute(&world.env.app.pool)
        .await
        .unwrap();
    world.env.spawn_relay();
    world.env.spawn_handler(Payments {
        stripe: world.stripe(),
    });
    world
        .env
        .spawn_archiver_for(vec![cartwright_shared::queue::work_queues::payments()]);
    eventually(WAIT, "the checkout's job in dead_letters", || async {
        world.scalar("SELECT count(*) FROM dead_letters").await == 1
    })
    .await;
    let error: String = sqlx::query_scalar("SELECT error FROM dead_letters")
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap();
    assert!(error.contains("\"xyz\""), "{error}");
    let ledger = world.ledger().await;
    assert_eq!(ledger["counters"]["payment_intent_create_requests"], 0);
    assert_eq!(world.status(&id).await, "pending");
    world.env.stop().await;
}
