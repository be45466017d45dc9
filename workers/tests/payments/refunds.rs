//! Refunds ops ask for: never more than was captured for the order.

use std::collections::HashMap;

use serde_json::{Value, json};
use stripe_core::refund::CreateRefund;

use crate::common::World;

/// A refund request of its own (a fresh `Idempotency-Key`).
async fn refund(world: &World, number: &str, body: Value) -> reqwest::Response {
    let key = format!("refund-{}", cartwright_shared::ids::new_secret(8));
    refund_with_key(world, number, &key, body).await
}

async fn refund_with_key(world: &World, number: &str, key: &str, body: Value) -> reqwest::Response {
    let app = &world.env.app;
    app.client
        .post(app.url(&format!("/v1/ops/orders/{number}/refund")))
        .bearer_auth(&app.ops_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("refund request")
}

/// A checkout of the two demo orders, both placed and captured.
async fn completed(world: &World) -> (String, Vec<String>) {
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    for number in &orders {
        world.order_outcome(&id, number, true).await;
    }
    world.wait_for(&id, "completed").await;
    (id, orders)
}

async fn order_status(world: &World, number: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(number)
        .fetch_one(&world.env.app.pool)
        .await
        .unwrap()
}

async fn ops_order(world: &World, number: &str) -> Value {
    let app = &world.env.app;
    app.client
        .get(app.url(&format!("/v1/orders/{number}")))
        .bearer_auth(&app.ops_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn refunds_go_to_stripe_and_never_exceed_what_was_captured() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;

    // Not captured yet: nothing to refund.
    let early = refund(&world, &orders[0], json!({})).await;
    assert_eq!(early.status(), 409);
    assert_eq!(
        early.json::<Value>().await.unwrap()["error"]["code"],
        "order_not_captured"
    );

    world.order_outcome(&id, &orders[0], true).await;
    world.order_outcome(&id, &orders[1], false).await;
    world.wait_for(&id, "completed").await;
    let total = world.order_total(&orders[0]).await;

    // The failed order was never charged.
    let unpaid = refund(&world, &orders[1], json!({})).await;
    assert_eq!(unpaid.status(), 409);

    let part = refund(&world, &orders[0], json!({"amount": "10.00"})).await;
    assert_eq!(part.status(), 202);
    let body: Value = part.json().await.unwrap();
    assert_eq!(body["amount"], "10.00");
    assert_eq!(body["refund_number"], 1);

    let too_much = refund(
        &world,
        &orders[0],
        json!({"amount": format!("{}.00", total / 100)}),
    )
    .await;
    assert_eq!(too_much.status(), 409);
    assert_eq!(
        too_much.json::<Value>().await.unwrap()["error"]["code"],
        "refund_exceeds_captured"
    );

    let bad = refund(&world, &orders[0], json!({"amount": "-1"})).await;
    assert_eq!(bad.status(), 422);

    let order_status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE number = $1")
            .bind(&orders[0])
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap()
    };
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the partial refund", || async {
        order_status().await == "partially_refunded"
    })
    .await;

    // The rest, by default.
    let rest = refund(&world, &orders[0], json!({})).await;
    assert_eq!(rest.status(), 202);
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the full refund", || async {
        order_status().await == "refunded"
    })
    .await;
    let view = world.checkout(&id).await;
    assert_eq!(view["payment"]["refunded"], view["payment"]["captured"]);
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["refunded"], total);
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM outbox WHERE message_type = 'payment.refunded' AND aggregate_id = '{id}'"
            ))
            .await,
        2
    );
    let nothing_left = refund(&world, &orders[0], json!({})).await;
    assert_eq!(nothing_left.status(), 409);
    world.env.stop().await;
}

#[tokio::test]
async fn a_refund_stripe_already_made_is_recorded_not_made_again() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    for number in &orders {
        world.order_outcome(&id, number, true).await;
    }
    world.wait_for(&id, "completed").await;
    let pi = world.payment_intent_id(&id).await;

    // An earlier run of refund 1 reached Stripe and never committed; Stripe has since
    // forgotten its idempotency key. Only the metadata is left to recognise it by.
    let earlier = CreateRefund::new()
        .payment_intent(pi.as_str())
        .amount(1000)
        .metadata(HashMap::from([
            ("order_number".to_owned(), orders[0].clone()),
            ("refund_number".to_owned(), "1".to_owned()),
        ]))
        .send(&world.outside_client())
        .await
        .unwrap();

    let response = refund(&world, &orders[0], json!({"amount": "10.00"})).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["refund_number"], 1);
    let order_status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE number = $1")
            .bind(&orders[0])
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap()
    };
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the refund recorded", || async {
        order_status().await == "partially_refunded"
    })
    .await;
    let at_stripe = world.refunds_at_stripe(&pi).await;
    assert_eq!(at_stripe.len(), 1, "one refund at Stripe, not two");
    let recorded: Option<String> = sqlx::query_scalar(
        "SELECT stripe_refund_id FROM refunds WHERE order_number = $1 AND sequence = 1",
    )
    .bind(&orders[0])
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(recorded.as_deref(), Some(earlier.id.as_str()));
    assert_eq!(world.ledger().await["payment_intents"][0]["refunded"], 1000);

    // A refund Cartwright makes carries the metadata a later run would look for.
    let second = refund(&world, &orders[0], json!({"amount": "5.00"})).await;
    assert_eq!(second.status(), 202);
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the second refund", || async {
        world.refunds_at_stripe(&pi).await.len() == 2
    })
    .await;
    let newest = &world.refunds_at_stripe(&pi).await[0];
    let metadata = newest.metadata.clone().unwrap_or_default();
    assert_eq!(metadata.get("order_number"), Some(&orders[0]));
    assert_eq!(metadata.get("refund_number").map(String::as_str), Some("2"));
    world.env.stop().await;
}

#[tokio::test]
async fn a_double_click_refunds_once_and_stripe_gets_the_reason() {
    let world = World::start().await;
    let (id, orders) = completed(&world).await;
    let pi = world.payment_intent_id(&id).await;
    let number = &orders[0];
    let body = json!({"amount": "10.00", "reason": "requested_by_customer"});

    // Bad requests name their problem and write nothing.
    let app = &world.env.app;
    let keyless = app
        .client
        .post(app.url(&format!("/v1/ops/orders/{number}/refund")))
        .bearer_auth(&app.ops_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 422);
    let error = keyless.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(error["code"], "missing_field");
    assert_eq!(error["field"], "Idempotency-Key");
    let bad_reason = refund(&world, number, json!({"reason": "changed_my_mind"})).await;
    assert_eq!(bad_reason.status(), 422);
    assert_eq!(
        bad_reason.json::<Value>().await.unwrap()["error"]["field"],
        "reason"
    );
    let bad_restock = refund(&world, number, json!({"restock": "yes"})).await;
    assert_eq!(bad_restock.status(), 422);

    // Two clicks at once, one key: one refund, the same answer twice.
    let (first, second) = tokio::join!(
        refund_with_key(&world, number, "double-click", body.clone()),
        refund_with_key(&world, number, "double-click", body.clone()),
    );
    assert_eq!(first.status(), 202);
    assert_eq!(second.status(), 202);
    let replays = [&first, &second]
        .iter()
        .filter(|r| r.headers().get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replays, 1, "exactly one of the two is the replay");
    let (first, second): (Value, Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first, second);
    assert_eq!(first["refund_number"], 1);
    assert_eq!(first["reason"], "requested_by_customer");
    // The same body formatted otherwise is the same request.
    let again = refund_with_key(
        &world,
        number,
        "double-click",
        json!({"reason": "requested_by_customer", "amount": "10.00"}),
    )
    .await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // The key with another body, or for another order: refused, nothing refunded.
    let other = refund_with_key(&world, number, "double-click", json!({"amount": "11.00"})).await;
    assert_eq!(other.status(), 422);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );
    let elsewhere = refund_with_key(&world, &orders[1], "double-click", body.clone()).await;
    assert_eq!(elsewhere.status(), 422);

    cartwright_testkit::broker::eventually(crate::common::WAIT, "the refund", || async {
        order_status(&world, number).await == "partially_refunded"
    })
    .await;
    let at_stripe = world.refunds_at_stripe(&pi).await;
    assert_eq!(
        at_stripe.len(),
        1,
        "one refund at Stripe after the double click"
    );
    assert_eq!(at_stripe[0].amount, 1000);
    assert_eq!(
        at_stripe[0].reason.as_ref().map(|r| r.as_str()),
        Some("requested_by_customer")
    );
    assert_eq!(world.ledger().await["payment_intents"][0]["refunded"], 1000);
    let view = ops_order(&world, number).await;
    let refunds = view["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["status"], "succeeded");
    assert_eq!(refunds[0]["reason"], "requested_by_customer");
    assert_eq!(
        refunds[0]["stripe_refund_id"],
        json!(at_stripe[0].id.as_str())
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_restocking_refund_returns_the_units_and_resolves_low_stock_alerts() {
    let world = World::start().await;
    let (_, orders) = completed(&world).await;
    let pool = &world.env.app.pool;
    let number = &orders[0];
    let lines: Vec<(String, i64)> = sqlx::query_as(
        "SELECT sku, quantity::BIGINT FROM order_items WHERE order_number = $1 ORDER BY sku",
    )
    .bind(number)
    .fetch_all(pool)
    .await
    .unwrap();
    let (sku, quantity) = lines[0].clone();
    let stock_of = || async {
        sqlx::query_scalar::<_, i32>("SELECT stock FROM skus WHERE sku = $1")
            .bind(&sku)
            .fetch_one(pool)
            .await
            .unwrap() as i64
    };
    let before = stock_of().await;
    // The SKU is low: its threshold sits just above what is left, and its alert is open
    // (as the alert worker leaves it).
    let app = &world.env.app;
    let put = app
        .client
        .put(app.url(&format!("/v1/ops/catalog/{sku}")))
        .bearer_auth(&app.ops_key)
        .json(&json!({"low_stock_threshold": before + 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    sqlx::query(
        "INSERT INTO stock_alerts (sku, level, available, threshold, event_id)
         VALUES ($1, 'low', $2, $3, gen_random_uuid())",
    )
    .bind(&sku)
    .bind(before as i32)
    .bind((before + 1) as i32)
    .execute(pool)
    .await
    .unwrap();

    let response = refund(
        &world,
        number,
        json!({"reason": "requested_by_customer", "restock": true}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["restocked"][0]["sku"], json!(sku));
    assert_eq!(body["restocked"][0]["quantity"], quantity);
    assert_eq!(stock_of().await, before + quantity);
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stock_alerts WHERE sku = $1 AND state = 'open'")
            .bind(&sku)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(open, 0, "the restock resolved the low-stock alert");
    // The same audit row an ops restock writes.
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ops_audit WHERE action = 'sku.update' AND target = $1
           AND actor = 'key:ops-alice' AND (detail->>'stock')::BIGINT = $2",
    )
    .bind(format!("sku:{sku}"))
    .bind(before + quantity)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the refund", || async {
        order_status(&world, number).await == "refunded"
    })
    .await;
    // The other order once more with restock: its units, not these again.
    let twice = refund(&world, number, json!({"restock": true})).await;
    assert_eq!(twice.status(), 409);
    world.env.stop().await;
}

#[tokio::test]
async fn a_refund_stripe_refuses_shows_on_the_order_and_alerts_ops() {
    let world = World::start().await;
    let (id, orders) = completed(&world).await;
    let pi = world.payment_intent_id(&id).await;
    let intent = world
        .stripe()
        .payment_intent(&pi)
        .await
        .expect("PaymentIntent");
    let charge = intent.latest_charge.expect("a charge").id().to_string();
    // The customer disputed the charge: Stripe refuses refunds of it.
    world
        .control(&format!("/_emulator/charges/{charge}/dispute"), json!({}))
        .await;
    let number = &orders[0];
    let response = refund(
        &world,
        number,
        json!({"amount": "5.00", "reason": "duplicate"}),
    )
    .await;
    assert_eq!(response.status(), 202);
    cartwright_testkit::broker::eventually(crate::common::WAIT, "the refund to fail", || async {
        ops_order(&world, number).await["refunds"][0]["status"] == "failed"
    })
    .await;
    let view = ops_order(&world, number).await;
    let failed = &view["refunds"][0];
    assert!(
        failed["error"].as_str().unwrap().contains("charged back"),
        "{failed}"
    );
    assert_eq!(
        view["status"], "placed",
        "a failed refund does not change the order"
    );
    assert!(world.refunds_at_stripe(&pi).await.is_empty());
    let alert: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE message_type = 'ops.alert' AND aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(alert["kind"], "refund_failed");
    assert_eq!(alert["target"], format!("order:{number}"));
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM ops_audit WHERE action = 'alert.refund_failed' AND target = 'order:{number}'"
            ))
            .await,
        1
    );
    world.env.stop().await;
}
