//! The control API: scenario switches, the order log, health, and stopping the server.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, NORDWIND, RACKHOUSE};

#[tokio::test]
async fn scenario_switches_are_validated_listed_and_reset() {
    let site = common::start().await;
    let cases = [
        (
            json!({"store": "amazon", "sku": "NORD-1001", "scenario": "slow"}),
            "store",
        ),
        (
            json!({"store": "nordwind", "sku": "RACK-2001", "scenario": "slow"}),
            "sku",
        ),
        (
            json!({"store": "nordwind", "sku": "NORD-1001", "scenario": "flaky"}),
            "scenario",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = site.post_scenario(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (status, error) = site.post_scenario(json!({"store": "nordwind"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "malformed_request");

    site.set_scenario("rackhouse", "RACK-2002", "captcha").await;
    let (status, whole_store) = site
        .post_scenario(json!({"store": "nordwind", "scenario": "out_of_stock"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        whole_store,
        json!({"store": "nordwind", "sku": null, "scenario": "out_of_stock"})
    );
    let (_, list) = site.admin_get("/_admin/scenarios").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    let shopper = site.shopper();
    for sku in ["NORD-1001", "NORD-1006"] {
        let product = shopper.get(NORDWIND.product_path(sku)).await;
        assert_eq!(product.text(NORDWIND.availability), "Sold out", "{sku}");
    }
    site.reset_scenarios().await;
    assert_eq!(site.admin_get("/_admin/scenarios").await.1, json!([]));
    let product = shopper.get(NORDWIND.product_path("NORD-1001")).await;
    assert_eq!(product.text(NORDWIND.availability), "In stock");
}

#[tokio::test]
async fn the_order_log_filters_by_store_and_resets() {
    let site = common::start().await;
    for store in [&NORDWIND, &RACKHOUSE] {
        let shopper = site.shopper();
        shopper.add(store, store.plain_sku().0, "", "3").await;
        let checkout = shopper.open_checkout(store).await;
        shopper.place(store, &checkout).await.redirect();
    }
    assert_eq!(
        site.admin_get("/_admin/orders")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(site.orders("nordwind").await[0]["items"][0]["quantity"], 3);
    assert_eq!(
        site.orders("rackhouse").await[0]["total_cents"],
        3 * 1299 + 995
    );
    let (status, error) = site.admin_get("/_admin/orders?store=amazon").await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("store"))
    );
    site.reset_orders().await;
    assert!(site.orders("nordwind").await.is_empty() && site.orders("rackhouse").await.is_empty());
}

#[tokio::test]
async fn health_answers_and_a_stopped_server_is_gone() {
    let site = common::start().await;
    assert_eq!(
        site.admin_get("/_admin/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let url = site.url("/_admin/health");
    site.handle.stop().await.expect("a clean stop");
    assert!(reqwest::get(url).await.is_err());
}
