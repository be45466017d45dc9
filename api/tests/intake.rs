//! A two-store checkout through the real API and PostgreSQL: priced from the catalog,
//! split per store, stock held, audit and outbox rows written, readable afterwards.

use cartwright_testkit::{TestApp, demo_checkout};
use serde_json::Value;

#[tokio::test]
async fn two_store_checkout_is_priced_split_and_recorded() {
    let app = TestApp::spawn().await;
    let response = app.submit("order-1", &demo_checkout()).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("chk_"));
    assert_eq!(body["status"], "pending");
    assert_eq!(body["currency"], "usd");
    // NORD-1001 2 × 89.99 = 179.98, free shipping (≥ 100), CA tax 7.25 % → 13.05.
    // RACK-2001 1 × 189.00, shipping 9.95 (< 250), tax 13.70.
    assert_eq!(body["subtotal"], "368.98");
    assert_eq!(body["shipping"], "9.95");
    assert_eq!(body["tax"], "26.75");
    assert_eq!(body["total"], "405.68");

    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    let nord = &orders[0];
    assert_eq!(nord["store"], "nordwind");
    assert!(nord["number"].as_str().unwrap().starts_with("MO-"));
    assert_eq!(nord["status"], "pending_payment");
    assert_eq!(nord["subtotal"], "179.98");
    assert_eq!(nord["shipping"], "0.00");
    assert_eq!(nord["tax"], "13.05");
    assert_eq!(nord["total"], "193.03");
    assert_eq!(nord["items"][0]["sku"], "NORD-1001");
    assert_eq!(nord["items"][0]["title"], "Trail Runner Shoe");
    assert_eq!(nord["items"][0]["quantity"], 2);
    assert_eq!(nord["items"][0]["unit_price"], "89.99");
    assert_eq!(nord["items"][0]["line_total"], "179.98");
    let rack = &orders[1];
    assert_eq!(rack["store"], "rackhouse");
    assert_eq!(rack["shipping"], "9.95");
    assert_eq!(rack["tax"], "13.70");
    assert_eq!(rack["total"], "212.65");

    // Stock is held, not sold.
    let (stock, reserved): (i32, i32) =
        sqlx::query_as("SELECT stock, reserved FROM skus WHERE sku = 'NORD-1001'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((stock, reserved), (40, 2));
    // One outbox message announces it, for the payment worker.
    let (message_type, payload): (String, Value) =
        sqlx::query_as("SELECT message_type, payload FROM outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(message_type, "checkout.submitted");
    assert_eq!(payload["checkout_id"], body["id"]);
    assert_eq!(payload["total"], 40568);

    // The storefront reads back the same checkout, with its history.
    let id = body["id"].as_str().unwrap();
    let (_, read) = app
        .get_json(&format!("/v1/checkouts/{id}"), &app.storefront_key)
        .await;
    assert_eq!(read["total"], "405.68");
    assert_eq!(read["orders"], body["orders"]);
    assert_eq!(read["history"], body["history"]);
    let history = read["history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        3,
        "checkout and two orders created: {history:?}"
    );
    assert_eq!(history[0]["to"], "pending");
    assert_eq!(history[0].get("actor"), None, "who acted is for ops");
    let (_, as_ops) = app
        .get_json(&format!("/v1/checkouts/{id}"), &app.ops_key)
        .await;
    assert_eq!(as_ops["history"][0]["actor"], "key:shop-a");

    // And one order on its own.
    let number = nord["number"].as_str().unwrap();
    let (_, order) = app
        .get_json(&format!("/v1/orders/{number}"), &app.storefront_key)
        .await;
    assert_eq!(order["number"], number);
    assert_eq!(order["checkout_id"], id);
    assert_eq!(order["total"], "193.03");
    assert_eq!(order["history"][0]["to"], "pending_payment");
}

#[tokio::test]
async fn a_country_without_a_tax_row_is_untaxed() {
    let app = TestApp::spawn().await;
    let mut body = demo_checkout();
    body["shipping_address"] = serde_json::json!({"name": "Jan", "line1": "Hauptstr. 1",
        "city": "Berlin", "postal_code": "10115", "country": "de"});
    let response = app.submit("de-1", &body).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tax"], "0.00");
    assert_eq!(body["shipping_address"]["country"], "DE");
}

#[tokio::test]
async fn a_storefront_sees_only_its_own_checkouts_and_ops_see_all() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .submit("mine", &demo_checkout())
        .await
        .json()
        .await
        .unwrap();
    let id = body["id"].as_str().unwrap();
    let number = body["orders"][0]["number"].as_str().unwrap();
    let other = app
        .key("shop-b", cartwright_shared::api_keys::Role::Storefront)
        .await;
    for path in [
        format!("/v1/checkouts/{id}"),
        format!("/v1/orders/{number}"),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            404,
            "{path} must not be visible to another storefront"
        );
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.ops_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} is visible to ops");
    }
    let missing = app
        .client
        .get(app.url("/v1/checkouts/chk_nope"))
        .bearer_auth(&app.storefront_key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
}
