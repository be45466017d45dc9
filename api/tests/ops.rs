//! The ops endpoints that shape the catalog: stores and SKUs.

use cartwright_testkit::{TestApp, demo_checkout};
use serde_json::{Value, json};

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.send_json(reqwest::Method::PUT, path, &app.ops_key, &body)
        .await
}

#[tokio::test]
async fn stores_are_created_and_replaced() {
    let app = TestApp::spawn().await;
    let store = json!({"name": "Peak Gear", "placement_mode": "manual", "currency": "usd",
        "shipping_fee": "4.50", "free_shipping_threshold": "50", "website_url": "https://peak.example"});
    let (status, body) = put(&app, "/v1/ops/stores/peak-gear", store.clone()).await;
    assert_eq!(status, 201);
    assert_eq!(body["shipping_fee"], "4.50");
    assert_eq!(body["free_shipping_threshold"], "50.00");

    let mut switched = store.clone();
    switched["placement_mode"] = json!("automated");
    let (status, body) = put(&app, "/v1/ops/stores/peak-gear", switched).await;
    assert_eq!(status, 200);
    assert_eq!(body["placement_mode"], "automated");

    // The store's tolerance: 2 % unless set; a replacement without it keeps it.
    assert_eq!(body["price_tolerance_bps"], 200);
    let mut tolerant = store.clone();
    tolerant["price_tolerance_bps"] = json!(350);
    let (status, body) = put(&app, "/v1/ops/stores/peak-gear", tolerant).await;
    assert_eq!((status, &body["price_tolerance_bps"]), (200, &json!(350)));
    let (_, body) = put(&app, "/v1/ops/stores/peak-gear", store.clone()).await;
    assert_eq!(body["price_tolerance_bps"], 350);

    for (path, body, field) in [
        ("/v1/ops/stores/Peak Gear", store.clone(), "id"),
        (
            "/v1/ops/stores/peak",
            json!({"name": "P", "placement_mode": "robot", "currency": "usd", "shipping_fee": "1"}),
            "placement_mode",
        ),
        (
            "/v1/ops/stores/peak",
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": "1.999"}),
            "shipping_fee",
        ),
        (
            "/v1/ops/stores/peak",
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": 1.5}),
            "shipping_fee",
        ),
        (
            "/v1/ops/stores/peak",
            json!({"placement_mode": "manual", "currency": "usd", "shipping_fee": "1"}),
            "name",
        ),
        (
            "/v1/ops/stores/peak",
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": "1",
                "price_tolerance_bps": 10_001}),
            "price_tolerance_bps",
        ),
        (
            "/v1/ops/stores/peak",
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": "1",
                "price_tolerance_bps": 2.5}),
            "price_tolerance_bps",
        ),
    ] {
        let (status, error) = put(&app, path, body).await;
        assert_eq!(status, 422, "{path}: {error}");
        assert_eq!(error["error"]["field"], field);
    }
    // A store with USD SKUs cannot switch to EUR.
    let (status, error) = put(
        &app,
        "/v1/ops/stores/nordwind",
        json!({"name": "N", "placement_mode": "automated",
        "currency": "eur", "shipping_fee": "5.99"}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], "currency_in_use");
}

#[tokio::test]
async fn skus_are_created_and_updated_and_prices_come_from_the_catalog() {
    let app = TestApp::spawn().await;
    let (status, body) = put(
        &app,
        "/v1/ops/catalog/NORD-9000",
        json!({"store": "nordwind",
        "title": "Camp Stove", "price": "45.00", "stock": 7, "low_stock_threshold": 2}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["available"], 7);
    assert_eq!(body["currency"], "usd");

    // Ops reprice a SKU: the next checkout pays the new price, whatever the client says.
    let (status, body) = put(&app, "/v1/ops/catalog/NORD-1001", json!({"price": "10.00"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["price"], "10.00");
    assert_eq!(
        body["title"], "Trail Runner Shoe",
        "untouched fields keep their value"
    );
    let checkout: Value = app
        .submit("after-reprice", &demo_checkout())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checkout["orders"][0]["items"][0]["unit_price"], "10.00");

    // The catalog shows stock and holds.
    let (_, catalog) = app
        .get_json("/v1/catalog?store=nordwind", &app.storefront_key)
        .await;
    let shoe = catalog["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "NORD-1001")
        .unwrap()
        .clone();
    assert_eq!(
        (shoe["reserved"].as_i64(), shoe["available"].as_i64()),
        (Some(2), Some(38))
    );
    assert!(
        catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["store"] == "nordwind")
    );

    // Stock cannot drop below what open checkouts hold.
    let (status, error) = put(&app, "/v1/ops/catalog/NORD-1001", json!({"stock": 1})).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], "stock_below_reserved");

    for (path, body, status, field) in [
        (
            "/v1/ops/catalog/NEW-1",
            json!({"store": "nowhere", "title": "T", "price": "1", "stock": 1}),
            422,
            "store",
        ),
        (
            "/v1/ops/catalog/NEW-1",
            json!({"store": "nordwind", "price": "1", "stock": 1}),
            422,
            "title",
        ),
        (
            "/v1/ops/catalog/NORD-1001",
            json!({"price": "0"}),
            422,
            "price",
        ),
        (
            "/v1/ops/catalog/NORD-1001",
            json!({"stock": -1}),
            422,
            "stock",
        ),
        (
            "/v1/ops/catalog/NORD-1001",
            json!({"store": "rackhouse"}),
            422,
            "store",
        ),
        (
            "/v1/ops/catalog/bad%20sku",
            json!({"price": "1"}),
            422,
            "sku",
        ),
    ] {
        let (got, error) = put(&app, path, body).await;
        assert_eq!(got, status, "{path}: {error}");
        assert_eq!(error["error"]["field"], field, "{path}");
    }
}

/// A SKU's options: set, shown, replaced whole, cleared with `{}`, audited; bad ones
/// are a 422 naming the field, and leave the SKU as it was.
#[tokio::test]
async fn sku_options_are_set_checked_and_cleared() {
    let app = TestApp::spawn().await;
    let path = "/v1/ops/catalog/NORD-1002";
    let (status, body) = put(
        &app,
        path,
        json!({"options": {"size": " M ", "colour": "navy"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["options"],
        json!({"size": "M", "colour": "navy"}),
        "trimmed"
    );
    assert_eq!(body["title"], "Merino Base Layer");

    // A new SKU with its options; one without any shows {}.
    let (status, body) = put(
        &app,
        "/v1/ops/catalog/NORD-1002-L",
        json!({"store": "nordwind", "title": "Merino Base Layer", "price": "64.50",
               "stock": 5, "options": {"size": "L"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["options"], json!({"size": "L"}));
    let (_, catalog) = app
        .get_json("/v1/catalog?store=nordwind", &app.storefront_key)
        .await;
    let options_of = |sku: &str| {
        catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["sku"] == sku)
            .map(|i| i["options"].clone())
    };
    assert_eq!(options_of("NORD-1002-L"), Some(json!({"size": "L"})));
    assert_eq!(options_of("NORD-1001"), Some(json!({})));

    // Other fields leave the options alone; `options` replaces them whole.
    let (_, body) = put(&app, path, json!({"stock": 61})).await;
    assert_eq!(body["options"], json!({"size": "M", "colour": "navy"}));
    let (_, body) = put(&app, path, json!({"options": {"size": "S"}})).await;
    assert_eq!(body["options"], json!({"size": "S"}));
    let audited: Value = sqlx::query_scalar(
        "SELECT detail FROM ops_audit WHERE target = 'sku:NORD-1002' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited["options"], json!({"size": "S"}));

    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("o{i}"), json!("x"))).collect();
    for (options, field, says) in [
        (json!(["size", "M"]), "options", "must be an object"),
        (json!("M"), "options", "must be an object"),
        (json!({"Size": "M"}), "options", "\"Size\""),
        (json!({"1st": "M"}), "options", "not starting with a digit"),
        (json!({"size-eu": "42"}), "options", "\"size-eu\""),
        (json!({"": "M"}), "options", "option name"),
        (
            Value::Object([("a".repeat(33), json!("M"))].into_iter().collect()),
            "options",
            "option name",
        ),
        (Value::Object(many), "options", "at most 16"),
        (json!({"size": 42}), "options.size", "must be text"),
        (json!({"size": null}), "options.size", "must be text"),
        (
            json!({"size": {"eu": "42"}}),
            "options.size",
            "must be text",
        ),
        (json!({"size": "  "}), "options.size", "is empty"),
        (
            json!({"size": "x".repeat(101)}),
            "options.size",
            "longer than 100",
        ),
        (json!({"size": "M\u{7}"}), "options.size", "U+0007"),
        (json!({"size": "M\u{e007}"}), "options.size", "U+E007"),
    ] {
        let (status, error) = put(&app, path, json!({ "options": options })).await;
        assert_eq!(status, 422, "{options}: {error}");
        assert_eq!(error["error"]["code"], "invalid_field", "{options}");
        assert_eq!(error["error"]["field"], field, "{options}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{options}: {message}");
    }
    let (_, body) = put(&app, path, json!({})).await;
    assert_eq!(
        body["options"],
        json!({"size": "S"}),
        "unchanged by refusals"
    );

    let (status, body) = put(&app, path, json!({"options": {}})).await;
    assert_eq!((status, &body["options"]), (200, &json!({})), "cleared");
}
