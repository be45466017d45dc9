//! Low-stock events are written in the transaction of the stock change: by intake
//! reservations and by ops stock changes; a restock above the threshold resolves the
//! open alerts. (The alert worker itself: workers/tests/alerts.rs.)

use cartwright_testkit::{TestApp, demo_checkout};
use serde_json::{Value, json};

async fn put_sku(app: &TestApp, sku: &str, body: Value) -> u16 {
    app.client
        .put(app.url(&format!("/v1/ops/catalog/{sku}")))
        .bearer_auth(&app.ops_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn events(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = 'stock.low' ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn stock_changes_write_stock_low_events_and_a_restock_resolves_alerts() {
    let app = TestApp::spawn().await;
    let created = json!({"store": "nordwind", "title": "Mug", "price": "5.00", "stock": 10, "low_stock_threshold": 4});
    assert_eq!(put_sku(&app, "LOW-1", created).await, 201);
    assert!(events(&app).await.is_empty(), "10 available is above 4");

    // Ops lower the stock to the threshold: one `low` event, in that change.
    assert_eq!(put_sku(&app, "LOW-1", json!({"stock": 4})).await, 200);
    assert_eq!(
        events(&app).await,
        [json!({"sku": "LOW-1", "level": "low", "available": 4, "threshold": 4})]
    );

    // A reservation that takes the rest: an `out` event written by intake.
    let mut body = demo_checkout();
    body["items"] = json!([{"sku": "LOW-1", "quantity": 4}]);
    assert_eq!(app.submit("take-all", &body).await.status(), 202);
    assert_eq!(
        events(&app).await.last().unwrap(),
        &json!({"sku": "LOW-1", "level": "out", "available": 0, "threshold": 4})
    );

    // An open alert (as the worker opens it) suppresses more events at its level and
    // is resolved by a restock above the threshold.
    sqlx::query(
        "INSERT INTO stock_alerts (sku, level, available, threshold, event_id)
         VALUES ('LOW-1', 'out', 0, 4, gen_random_uuid())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let before = events(&app).await.len();
    assert_eq!(
        put_sku(&app, "LOW-1", json!({"title": "Big Mug"})).await,
        200
    );
    assert_eq!(
        events(&app).await.len(),
        before,
        "already alerted at this level"
    );
    let alerts: Value = app
        .client
        .get(app.url("/v1/ops/alerts"))
        .bearer_auth(&app.ops_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts["alerts"][0]["sku"], "LOW-1");
    assert_eq!(alerts["alerts"][0]["title"], "Big Mug");

    assert_eq!(put_sku(&app, "LOW-1", json!({"stock": 9})).await, 200);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM stock_alerts WHERE state = 'open'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(open, 0, "5 available is above 4: resolved");
    assert_eq!(events(&app).await.len(), before);
}
