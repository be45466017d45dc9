//! `GET /v1/orders?customer=` through the real API and PostgreSQL: a customer's orders,
//! newest first, page by page to the last, each as its storefront sees an order; found by
//! the storefront's reference or by e-mail; never another storefront's; bad parameters
//! refused with 400 naming them.

use cartwright_shared::api_keys::Role;
use cartwright_testkit::{TestApp, demo_checkout};
use serde_json::{Value, json};

/// Submits the demo cart (two stores, so two orders) or a one-store cart for a
/// customer; returns its order numbers, highest first (the listing's order within one
/// checkout).
async fn checkout(
    app: &TestApp,
    key: &str,
    idempotency_key: &str,
    reference: Option<&str>,
    email: &str,
    two_stores: bool,
) -> Vec<String> {
    let mut body = demo_checkout();
    body["customer"]["email"] = json!(email);
    if let Some(reference) = reference {
        body["customer"]["reference"] = json!(reference);
    }
    if !two_stores {
        body["items"] = json!([{"sku": "NORD-1005", "quantity": 1}]);
    }
    let response = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    if let Some(reference) = reference {
        assert_eq!(answer["customer"]["reference"], reference, "{answer}");
    }
    let mut numbers: Vec<String> = answer["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort_by(|a, b| b.cmp(a));
    numbers
}

/// Every page from the first, following `next_cursor`; the orders of all of them and
/// the number of pages.
async fn every_page(app: &TestApp, key: &str, query: &str) -> (Vec<Value>, usize) {
    let mut orders = Vec::new();
    let mut pages = 0;
    let mut path = format!("/v1/orders?{query}");
    loop {
        let (status, page) = app.get_json(&path, key).await;
        assert_eq!(status, 200, "{path}: {page}");
        pages += 1;
        orders.extend(page["orders"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/orders?{query}&cursor={cursor}"),
            None => return (orders, pages),
        }
        assert!(pages < 50, "paging does not end: {path}");
    }
}

fn numbers(orders: &[Value]) -> Vec<String> {
    orders
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_customers_orders_are_listed_newest_first_page_by_page() {
    let app = TestApp::spawn().await;
    let sf = app.storefront_key.clone();
    app.set_stock("RACK-2001", 1000).await;
    // cus_1's checkouts, interleaved with others': one of two stores, then one store…
    let mut expected = Vec::new();
    for n in 0..6 {
        let mine = checkout(
            &app,
            &sf,
            &format!("c1-{n}"),
            Some("cus_1"),
            "ann@example.com",
            n % 2 == 0,
        )
        .await;
        expected.push(mine);
        checkout(
            &app,
            &sf,
            &format!("c2-{n}"),
            Some("cus_2"),
            "bo@example.com",
            true,
        )
        .await;
    }
    checkout(&app, &sf, "anon", None, "ann@example.com", false).await;
    // Newest checkout first; within one, the listing's order (number, highest first).
    let expected: Vec<String> = expected.into_iter().rev().flatten().collect();
    assert_eq!(expected.len(), 9);

    let (orders, pages) = every_page(&app, &sf, "customer=cus_1&limit=2").await;
    assert_eq!(numbers(&orders), expected, "every order once, newest first");
    assert_eq!(pages, 5, "9 orders in pages of 2");
    // A page boundary inside a checkout (its two orders on two pages) loses nothing:
    // the two-store checkouts are at positions 1–2, 4–5 and 7–8, so pages of 2 split
    // the first and pages of 4 the last.
    let (orders, pages) = every_page(&app, &sf, "customer=cus_1&limit=4").await;
    assert_eq!((numbers(&orders), pages), (expected.clone(), 3));
    let (orders, pages) = every_page(&app, &sf, "customer=cus_1").await;
    assert_eq!(
        (numbers(&orders), pages),
        (expected.clone(), 1),
        "default limit 20"
    );

    // Each order as its storefront reads it alone: lines and the customer's history,
    // never who made a change or why, nor what the retailer charged.
    let first = &orders[0];
    let (_, alone) = app
        .get_json(
            &format!("/v1/orders/{}", first["number"].as_str().unwrap()),
            &sf,
        )
        .await;
    assert_eq!(first, &alone);
    let history = first["history"].as_array().unwrap();
    assert_eq!(history[0]["to"], "pending_payment");
    assert!(
        history
            .iter()
            .all(|h| h.get("actor").is_none() && h.get("reason").is_none())
    );
    assert_eq!(first.get("retailer_charge"), None);
    assert!(!first["items"].as_array().unwrap().is_empty());

    // By e-mail (any case): cus_1's orders and the one without a reference.
    let (orders, _) = every_page(&app, &sf, "email=ANN%40Example.com&limit=3").await;
    assert_eq!(orders.len(), 10);
    assert_eq!(
        numbers(&orders)[1..],
        expected[..],
        "the newest is the anonymous one"
    );

    // A customer with no orders: an empty last page.
    let (status, page) = app.get_json("/v1/orders?customer=cus_none", &sf).await;
    assert_eq!(
        (status, page),
        (200, json!({"orders": [], "next_cursor": null}))
    );
}

#[tokio::test]
async fn a_storefront_sees_only_its_own_principals_orders() {
    let app = TestApp::spawn().await;
    let shop_b = app.key("shop-b", Role::Storefront).await;
    let ours = checkout(
        &app,
        &app.storefront_key,
        "a-1",
        Some("cus_1"),
        "ann@example.com",
        true,
    )
    .await;
    let theirs = checkout(
        &app,
        &shop_b,
        "b-1",
        Some("cus_1"),
        "ann@example.com",
        false,
    )
    .await;

    for query in ["customer=cus_1", "email=ann%40example.com"] {
        let (orders, _) = every_page(&app, &app.storefront_key, query).await;
        assert_eq!(numbers(&orders), ours, "{query}");
        let (orders, _) = every_page(&app, &shop_b, query).await;
        assert_eq!(numbers(&orders), theirs, "{query}");
    }
    // Another key of the same principal sees the same orders.
    let rotated = app.key("shop-a", Role::Storefront).await;
    let (orders, _) = every_page(&app, &rotated, "customer=cus_1").await;
    assert_eq!(numbers(&orders), ours);
    // A cursor is a position, not a pass: shop-a's, used by shop-b, finds only what
    // shop-b's own listing has past that point (nothing: shop-b's order is newer).
    let (_, page) = app
        .get_json("/v1/orders?customer=cus_1&limit=1", &app.storefront_key)
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = app
        .get_json(
            &format!("/v1/orders?customer=cus_1&cursor={cursor}"),
            &shop_b,
        )
        .await;
    assert_eq!(page["orders"], json!([]));

    let (status, body) = app
        .get_json("/v1/orders?customer=cus_1", &app.ops_key)
        .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    let response = app
        .client
        .get(app.url("/v1/orders?customer=cus_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn bad_parameters_are_refused_with_400_naming_them() {
    let app = TestApp::spawn().await;
    checkout(
        &app,
        &app.storefront_key,
        "a-1",
        Some("cus_1"),
        "ann@example.com",
        true,
    )
    .await;
    let long = "x".repeat(129);
    let cases = [
        ("", "customer"),
        ("limit=5", "customer"),
        ("customer=cus_1&email=ann%40example.com", "email"),
        ("customer=", "customer"),
        ("customer=%20%20", "customer"),
        ("customer=a%09b", "customer"),
        (&format!("customer={long}"), "customer"),
        ("email=ann", "email"),
        ("customer=cus_1&limit=0", "limit"),
        ("customer=cus_1&limit=101", "limit"),
        ("customer=cus_1&limit=ten", "limit"),
        ("customer=cus_1&limit=-1", "limit"),
        ("customer=cus_1&cursor=", "cursor"),
        ("customer=cus_1&cursor=nonsense", "cursor"),
        ("customer=cus_1&cursor=312e312e61", "cursor"),
    ];
    for (query, field) in cases {
        let (status, body) = app
            .get_json(&format!("/v1/orders?{query}"), &app.storefront_key)
            .await;
        assert_eq!(
            (status, &body["error"]["code"], &body["error"]["field"]),
            (400, &json!("invalid_parameter"), &json!(field)),
            "?{query}: {body}"
        );
    }
    // The edges that are fine.
    for query in ["customer=cus_1&limit=1", "customer=cus_1&limit=100"] {
        let (status, body) = app
            .get_json(&format!("/v1/orders?{query}"), &app.storefront_key)
            .await;
        assert_eq!(status, 200, "?{query}: {body}");
    }
}

#[tokio::test]
async fn a_checkouts_customer_reference_is_checked_and_kept() {
    let app = TestApp::spawn().await;
    for (i, reference) in [
        json!(""),
        json!(" "),
        json!("a\u{7}b"),
        json!("x".repeat(129)),
        json!(42),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = demo_checkout();
        body["customer"]["reference"] = reference.clone();
        let response = app.submit(&format!("ref-{i}"), &body).await;
        assert_eq!(response.status(), 422, "{reference}");
        let refused: Value = response.json().await.unwrap();
        assert_eq!(refused["error"]["field"], "customer.reference", "{refused}");
    }
    assert_eq!(app.count("checkouts").await, 0);

    // Trimmed like every text field, and shown back on the checkout.
    let mut body = demo_checkout();
    body["customer"]["reference"] = json!("  cus_9 ");
    let response = app.submit("ref-ok", &body).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["customer"]["reference"], "cus_9");
    let id = accepted["id"].as_str().unwrap();
    let (_, read) = app
        .get_json(&format!("/v1/checkouts/{id}"), &app.storefront_key)
        .await;
    assert_eq!(read["customer"], accepted["customer"]);
    // Without one, the customer looks as it always did.
    let response = app.submit("no-ref", &demo_checkout()).await;
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["customer"].get("reference"), None);
}
