//! The placement router and the manual-queue intake on a real broker: each order goes
//! by its store's mode, switching a store changes where the next order goes, and the
//! intake is idempotent.

use std::time::Duration;

use cartwright_shared::outbox;
use cartwright_shared::placement::{ManualPlacement, OrderRef, events};
use cartwright_testkit::broker::{QueueEnv, SHARED_BROKER, connect, drain, eventually};
use cartwright_testkit::demo_checkout;
use cartwright_workers::placement_manual::ManualIntake;
use cartwright_workers::placement_router::Router;
use serde_json::{Value, json};

/// Submits the demo checkout (a nordwind and a rackhouse order) and announces each
/// order ready for placement, as the payments worker does on authorization.
async fn paid_checkout(env: &QueueEnv, key: &str) -> Vec<(String, String)> {
    let response = env.app.submit(key, &demo_checkout()).await;
    assert_eq!(response.status(), 202);
    let checkout: Value = response.json().await.unwrap();
    let checkout_id = checkout["id"].as_str().unwrap();
    let mut tx = env.app.pool.begin().await.unwrap();
    let mut orders = Vec::new();
    for order in checkout["orders"].as_array().unwrap() {
        let number = order["number"].as_str().unwrap().to_owned();
        let store = order["store"].as_str().unwrap().to_owned();
        sqlx::query("UPDATE orders SET status = 'ready_for_placement' WHERE number = $1")
            .bind(&number)
            .execute(&mut *tx)
            .await
            .unwrap();
        outbox::enqueue(
            &mut tx,
            events::READY_FOR_PLACEMENT,
            checkout_id,
            &OrderRef {
                checkout_id: checkout_id.to_owned(),
                order_number: number.clone(),
                store_id: store.clone(),
            },
        )
        .await
        .unwrap();
        orders.push((store, number));
    }
    tx.commit().await.unwrap();
    orders
}

async fn status_of(env: &QueueEnv, number: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(number)
        .fetch_one(&env.app.pool)
        .await
        .unwrap()
}

async fn set_mode(env: &QueueEnv, store: &str, mode: &str) {
    let response = env
        .app
        .client
        .put(env.app.url(&format!("/v1/ops/stores/{store}")))
        .bearer_auth(&env.app.ops_key)
        .json(
            &json!({"name": store, "placement_mode": mode, "currency": "usd",
            "shipping_fee": "5.99", "website_url": format!("https://{store}.example")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn wait_status(env: &QueueEnv, number: &str, want: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("{number} to become {want}"),
        || async { status_of(env, number).await == want },
    )
    .await;
}

#[tokio::test]
async fn orders_go_by_their_stores_mode_and_a_switch_applies_to_the_next_order() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    env.spawn_relay();
    env.spawn_handler(Router);
    env.spawn_handler(ManualIntake);
    set_mode(&env, "rackhouse", "manual").await;

    let first = paid_checkout(&env, "route-1").await;
    let (nord, rack) = (&first[0].1, &first[1].1);
    wait_status(&env, nord, "placing").await;
    wait_status(&env, rack, "awaiting_manual").await;
    let reason: String =
        sqlx::query_scalar("SELECT reason FROM manual_placements WHERE order_number = $1")
            .bind(rack)
            .fetch_one(&env.app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "store_is_manual");
    let not_queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM manual_placements WHERE order_number = $1")
            .bind(nord)
            .fetch_one(&env.app.pool)
            .await
            .unwrap();
    assert_eq!(not_queued, 0);

    // The automated order waits for the browser worker on its queue.
    let connection = connect(SHARED_BROKER).await;
    let browser_queue = env.topology.work("placement-browser");
    let mut automated: Vec<Value> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while automated.is_empty() && std::time::Instant::now() < deadline {
        for body in drain(&connection, &browser_queue).await {
            automated.push(serde_json::from_slice(&body).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        automated.len(),
        1,
        "one order.automated_placement on placement-browser"
    );
    assert_eq!(automated[0]["type"], "order.automated_placement");
    assert_eq!(automated[0]["payload"]["order_number"], nord.as_str());

    // Switch both stores: the next checkout goes the other way round.
    set_mode(&env, "nordwind", "manual").await;
    set_mode(&env, "rackhouse", "automated").await;
    let second = paid_checkout(&env, "route-2").await;
    wait_status(&env, &second[0].1, "awaiting_manual").await;
    wait_status(&env, &second[1].1, "placing").await;
    // The first checkout's orders stay where they went.
    assert_eq!(status_of(&env, nord).await, "placing");
    assert_eq!(status_of(&env, rack).await, "awaiting_manual");

    // Audit: who routed and who queued.
    let actors: Vec<(String, String)> = sqlx::query_as(
        "SELECT to_status, actor FROM status_history WHERE order_number = $1 ORDER BY id",
    )
    .bind(&second[1].1)
    .fetch_all(&env.app.pool)
    .await
    .unwrap();
    assert_eq!(
        actors.last().unwrap(),
        &("placing".to_owned(), "system:placement-router".to_owned())
    );
    let notified: i64 = env
        .scalar("SELECT count(*) FROM ops_audit WHERE action = 'placement.queued'")
        .await;
    assert_eq!(notified, 2);
    env.stop().await;
}

/// The router and the manual intake running, and one paid order of an automated store
/// already `placing`: its queue environment, store, number and checkout.
async fn placing_order(key: &str) -> (QueueEnv, String, String, String) {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    env.spawn_relay();
    env.spawn_handler(Router);
    env.spawn_handler(ManualIntake);
    let (store, number) = paid_checkout(&env, key).await.remove(0);
    wait_status(&env, &number, "placing").await;
    let checkout_id: String =
        sqlx::query_scalar("SELECT checkout_id FROM orders WHERE number = $1")
            .bind(&number)
            .fetch_one(&env.app.pool)
            .await
            .unwrap();
    (env, store, number, checkout_id)
}

#[tokio::test]
async fn an_automation_failure_joins_the_manual_queue_once() {
    let (env, store, number, checkout_id) = placing_order("browser-fails").await;
    let (store, number) = (&store, &number);

    // The browser worker hits a CAPTCHA; the same event arrives twice.
    let mut tx = env.app.pool.begin().await.unwrap();
    for _ in 0..2 {
        outbox::enqueue(
            &mut tx,
            events::MANUAL_PLACEMENT,
            &checkout_id,
            &ManualPlacement {
                checkout_id: checkout_id.clone(),
                order_number: number.clone(),
                store_id: store.clone(),
                reason: "captcha".into(),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    wait_status(&env, number, "awaiting_manual").await;
    eventually(
        Duration::from_secs(10),
        "both messages processed",
        || async {
            env.scalar("SELECT count(*) FROM inbox WHERE consumer = 'placement-manual'")
                .await
                == 2
        },
    )
    .await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT reason, status FROM manual_placements WHERE order_number = $1")
            .bind(number)
            .fetch_all(&env.app.pool)
            .await
            .unwrap();
    assert_eq!(rows, vec![("captcha".to_owned(), "waiting".to_owned())]);
    let to_manual: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM status_history WHERE order_number = $1 AND to_status = 'awaiting_manual'",
    )
    .bind(number)
    .fetch_one(&env.app.pool)
    .await
    .unwrap();
    assert_eq!(to_manual, 1, "queued once");
    env.stop().await;
}

/// Found by the fault drill: the browser worker moves an order to `awaiting_manual`
/// itself, in the transaction that announces it; the intake took that for "already
/// queued" and never wrote the queue row, so ops never saw the order.
#[tokio::test]
async fn an_order_the_browser_worker_moved_to_awaiting_manual_appears_in_the_ops_queue() {
    let (env, store, number, checkout_id) = placing_order("browser-captcha").await;
    let (store, number) = (&store, &number);

    // What the browser worker's `resolve` writes for a CAPTCHA.
    let mut tx = env.app.pool.begin().await.unwrap();
    sqlx::query("UPDATE orders SET status = 'awaiting_manual' WHERE number = $1")
        .bind(number)
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox::enqueue(
        &mut tx,
        events::MANUAL_PLACEMENT,
        &checkout_id,
        &ManualPlacement {
            checkout_id: checkout_id.clone(),
            order_number: number.clone(),
            store_id: store.clone(),
            reason: "captcha".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    eventually(
        Duration::from_secs(10),
        "the intake to process the message",
        || async {
            env.scalar("SELECT count(*) FROM inbox WHERE consumer = 'placement-manual'")
                .await
                == 1
        },
    )
    .await;
    let (status, listed) = env
        .app
        .get_json("/v1/ops/placements?status=open", &env.app.ops_key)
        .await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = listed["placements"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["order_number"].as_str())
        .collect();
    assert_eq!(listed, vec![number.as_str()], "ops see the order");
    assert_eq!(status_of(&env, number).await, "awaiting_manual");
    env.stop().await;
}
