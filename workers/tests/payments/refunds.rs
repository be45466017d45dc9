//! Refunds ops ask for: never more than was captured for the order.

use std::collections::HashMap;

use serde_json::{Value, json};
use stripe_core::refund::CreateRefund;

use crate::common::World;

async fn refund(world: &World, number: &str, body: Value) -> reqwest::Response {
    let app = &world.env.app;
    app.client
        .post(app.url(&format!("/v1/ops/orders/{number}/refund")))
        .bearer_auth(&app.ops_key)
        .json(&body)
        .send()
        .await
        .expect("refund request")
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
