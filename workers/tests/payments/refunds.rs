//! Refunds ops ask for: never more than was captured for the order.

use serde_json::{Value, json};

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
