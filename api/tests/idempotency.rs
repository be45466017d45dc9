//! Idempotent intake: a retried request gets the first answer again, a reused key with
//! another body is refused, and two requests racing with one key create one checkout.

use cartwright_testkit::{TestApp, demo_checkout};
use serde_json::Value;

#[tokio::test]
async fn same_key_same_body_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let first = app.submit("retry-me", &demo_checkout()).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();

    // The same request, formatted differently (key order), is the same request.
    let reordered: Value =
        serde_json::from_str(&serde_json::to_string(&demo_checkout()).unwrap()).unwrap();
    let second = app.submit("retry-me", &reordered).await;
    assert_eq!(second.status(), 202);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);

    assert_eq!(app.count("checkouts").await, 1);
    assert_eq!(app.count("outbox").await, 1);
    let reserved: i32 = sqlx::query_scalar("SELECT reserved FROM skus WHERE sku = 'NORD-1001'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reserved, 2, "the replay reserved nothing more");
}

#[tokio::test]
async fn same_key_other_body_is_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(app.submit("k1", &demo_checkout()).await.status(), 202);
    let mut other = demo_checkout();
    other["items"][0]["quantity"] = serde_json::json!(3);
    let response = app.submit("k1", &other).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(body["error"]["field"], "Idempotency-Key");
    assert_eq!(app.count("checkouts").await, 1);
}

#[tokio::test]
async fn keys_are_per_storefront() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.submit("shared-key", &demo_checkout()).await.status(),
        202
    );
    let other = app
        .key("shop-b", cartwright_shared::api_keys::Role::Storefront)
        .await;
    let response = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(other)
        .header("Idempotency-Key", "shared-key")
        .json(&demo_checkout())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert!(response.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.count("checkouts").await, 2);
}

#[tokio::test]
async fn the_same_key_twice_at_once_creates_one_checkout() {
    let app = TestApp::spawn().await;
    // Several rounds, since one race may not overlap: in each, 8 requests with one key
    // fire together; all that answer 202 carry the same checkout, the rest 409.
    for round in 0..5 {
        let key = format!("race-{round}");
        let body = demo_checkout();
        let requests = (0..8).map(|_| app.submit(&key, &body));
        let responses = futures::future::join_all(requests).await;
        let mut ids = std::collections::HashSet::new();
        for response in responses {
            match response.status().as_u16() {
                202 => {
                    let body: Value = response.json().await.unwrap();
                    ids.insert(body["id"].as_str().unwrap().to_owned());
                }
                409 => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "idempotency_key_in_use");
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(ids.len(), 1, "exactly one checkout per key");
    }
    assert_eq!(app.count("checkouts").await, 5);
    assert_eq!(app.count("outbox").await, 5);
}
