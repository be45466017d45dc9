//! Ops cancel one order not yet bought: it leaves the manual queue with its lease and
//! the browser worker's never-twice gate, and settlement captures the others without it.

use cartwright_shared::api_keys::Role;
use cartwright_workers::placement_browser::attempts::{self, Submit};
use serde_json::{Value, json};

use crate::common::World;

async fn post(world: &World, key: &str, path: &str, body: Value) -> reqwest::Response {
    let app = &world.env.app;
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("POST")
}

async fn cancel(world: &World, number: &str, reason: &str) -> reqwest::Response {
    let app = &world.env.app;
    post(
        world,
        &app.ops_key,
        &format!("/v1/ops/orders/{number}/cancel"),
        json!({ "reason": reason }),
    )
    .await
}

async fn code(response: reqwest::Response) -> String {
    response.json::<Value>().await.unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The statuses `GET /v1/ops/placements?status=` lists the order under.
async fn listed(world: &World, status: &str, number: &str) -> Vec<String> {
    let app = &world.env.app;
    let page: Value = app
        .client
        .get(app.url(&format!("/v1/ops/placements?status={status}")))
        .bearer_auth(&app.ops_key)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    page["placements"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .filter(|entry| entry["order_number"] == number)
        .map(|entry| entry["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The checkout's orders as (number, store).
async fn orders_by_store(world: &World, id: &str) -> (String, String) {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT number, store_id FROM orders WHERE checkout_id = $1 ORDER BY number",
    )
    .bind(id)
    .fetch_all(&world.env.app.pool)
    .await
    .unwrap();
    let of = |store: &str| rows.iter().find(|(_, s)| s == store).unwrap().0.clone();
    (of("nordwind"), of("rackhouse"))
}

#[tokio::test]
async fn a_cancelled_order_leaves_the_manual_queue_and_is_not_captured() {
    let world = World::start().await;
    let pool = &world.env.app.pool;
    sqlx::query("UPDATE stores SET placement_mode = 'manual' WHERE id = 'rackhouse'")
        .execute(pool)
        .await
        .unwrap();
    let (id, _) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    let (automated, manual) = orders_by_store(&world, &id).await;
    let reserved_before: i32 =
        sqlx::query_scalar("SELECT reserved FROM skus WHERE sku = 'RACK-2001'")
            .fetch_one(pool)
            .await
            .unwrap();

    // No reason: refused, nothing changed.
    let app = &world.env.app;
    let bare = post(
        &world,
        &app.ops_key,
        &format!("/v1/ops/orders/{manual}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(bare.status(), 422);
    assert_eq!(code(bare).await, "missing_field");

    // A colleague holds it: they may be buying it right now.
    let bob = app.key("ops-bob", Role::Ops).await;
    let claim = post(
        &world,
        &bob,
        &format!("/v1/ops/placements/{manual}/claim"),
        json!({}),
    )
    .await;
    assert_eq!(claim.status(), 200);
    let held = cancel(&world, &manual, "customer called").await;
    assert_eq!(held.status(), 409);
    let error = held.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(error["code"], "order_being_bought");
    assert!(
        error["message"].as_str().unwrap().contains("ops-bob"),
        "{error}"
    );

    // Bob walked away and his lease ran out: the order leaves the queue, lease and all.
    sqlx::query(
        "UPDATE manual_placements SET lease_expires_at = now() - interval '1 second'
         WHERE order_number = $1",
    )
    .bind(&manual)
    .execute(pool)
    .await
    .unwrap();
    let done = cancel(&world, &manual, "customer called").await;
    assert_eq!(done.status(), 200);
    let view: Value = done.json().await.unwrap();
    assert_eq!(view["status"], "cancelled");
    let (queue_status, holder): (String, Option<String>) =
        sqlx::query_as("SELECT status, claimed_by FROM manual_placements WHERE order_number = $1")
            .bind(&manual)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((queue_status.as_str(), holder), ("cancelled", None));
    // Ops find it under its own filter, and no longer among the open ones.
    assert_eq!(listed(&world, "cancelled", &manual).await, ["cancelled"]);
    assert!(listed(&world, "open", &manual).await.is_empty());
    let reclaim = post(
        &world,
        &bob,
        &format!("/v1/ops/placements/{manual}/claim"),
        json!({}),
    )
    .await;
    assert_eq!(reclaim.status(), 409, "nobody can claim a cancelled order");
    let reserved_after: i32 =
        sqlx::query_scalar("SELECT reserved FROM skus WHERE sku = 'RACK-2001'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(reserved_after, reserved_before - 1, "its hold is released");
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM ops_audit WHERE action = 'order.cancel' AND target = 'order:{manual}' AND actor = 'key:ops-alice'"
            ))
            .await,
        1
    );
    // Again: the same answer, nothing written twice.
    let again = cancel(&world, &manual, "customer called").await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM ops_audit WHERE action = 'order.cancel' AND target = 'order:{manual}'"
            ))
            .await,
        1
    );

    // The other order is bought: settlement captures it alone.
    world.order_outcome(&id, &automated, true).await;
    world.wait_for(&id, "completed").await;
    let total = world.order_total(&automated).await;
    let checkout = world.checkout(&id).await;
    assert_eq!(
        checkout["payment"]["captured"],
        json!(cartwright_shared::money::Minor(total))
    );
    let ledger = world.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["captured"], total);

    // Bought: cancelling is refunding.
    let bought = cancel(&world, &automated, "too late").await;
    assert_eq!(bought.status(), 409);
    let error = bought.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(error["code"], "order_already_bought");
    assert!(
        error["message"].as_str().unwrap().contains("/refund"),
        "{error}"
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_cancelled_order_never_reaches_the_final_click_and_all_cancelled_releases_the_payment() {
    let world = World::start().await;
    let pool = &world.env.app.pool;
    let (id, _) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    let (first, second) = orders_by_store(&world, &id).await;
    let pi = world.payment_intent_id(&id).await;

    // The browser worker is at work on the first (an attempt started) when ops cancel
    // it: it is withdrawn at the never-twice gate.
    let order = attempts::load_order(pool, &first).await.unwrap().unwrap();
    assert_eq!(order.status, "placing");
    let attempt = attempts::start(pool, &order, uuid::Uuid::now_v7(), 0)
        .await
        .unwrap();
    assert_eq!(
        cancel(&world, &first, "duplicate order").await.status(),
        200
    );
    assert!(matches!(
        attempts::mark_submitting(pool, &first, attempt)
            .await
            .unwrap(),
        Submit::Withdraw(_)
    ));

    // The second is already at the final click: it may be bought, so it stays.
    let order = attempts::load_order(pool, &second).await.unwrap().unwrap();
    let attempt = attempts::start(pool, &order, uuid::Uuid::now_v7(), 0)
        .await
        .unwrap();
    assert_eq!(
        attempts::mark_submitting(pool, &second, attempt)
            .await
            .unwrap(),
        Submit::Go
    );
    let clicking = cancel(&world, &second, "duplicate order").await;
    assert_eq!(clicking.status(), 409);
    assert_eq!(code(clicking).await, "order_being_bought");

    // It was not bought after all: failed; every order is now settled and nothing was
    // placed, so the authorization is cancelled at Stripe.
    world.order_outcome(&id, &second, false).await;
    world.wait_for(&id, "cancelled").await;
    let ledger = world.ledger().await;
    let intent = &ledger["payment_intents"][0];
    assert_eq!(intent["id"], json!(pi));
    assert_eq!(intent["captured"], 0);
    assert_eq!(intent["status"], "canceled");
    world.env.stop().await;
}
