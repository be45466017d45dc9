//! `POST /v1/quotes` through the real API and PostgreSQL: the amounts the checkout will
//! show, to the cent, for carts over every store, quantity and tax rule; the lines short
//! of stock; nothing written; bad input refused exactly as a checkout refuses it.

use std::collections::BTreeSet;

use cartwright_shared::demo;
use cartwright_testkit::{TestApp, demo_checkout};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A fixed seed: a failure names its cart and replays exactly.
const SEED: u64 = 17;
const CARTS: usize = 60;

async fn quote(app: &TestApp, body: &Value) -> (u16, Value) {
    app.send_json(
        reqwest::Method::POST,
        "/v1/quotes",
        &app.storefront_key,
        body,
    )
    .await
}

/// Where the random carts ship: a state with its own rate, states and countries
/// without one, and (rows this test adds) a country-wide rate and a region's rate that
/// wins over it, with three decimals, so that rounding is exercised.
const ADDRESSES: &[(&str, Option<&str>, &str)] = &[
    ("US", Some("CA"), "94102"),
    ("US", Some("NY"), "10016"),
    ("US", Some("TX"), "73301"),
    ("US", Some("WA"), "98101"),
    ("DE", None, "10115"),
    ("CA", Some("ON"), "M5V 2T6"),
    ("CA", Some("QC"), "H2X 1Y4"),
    ("GB", None, "SW1A 1AA"),
];

fn random_cart(rng: &mut StdRng) -> Value {
    let lines = rng.random_range(1..=6);
    let skus: Vec<_> = demo::SKUS.choose_multiple(rng, lines).collect();
    let items: Vec<Value> = skus
        .iter()
        .map(|(sku, ..)| {
            // Mostly a few units; now and then many, past free-shipping thresholds.
            let quantity = if rng.random_bool(0.2) {
                rng.random_range(10..=99)
            } else {
                rng.random_range(1..=4)
            };
            json!({"sku": sku, "quantity": quantity})
        })
        .collect();
    let (country, state, postal_code) = *ADDRESSES.choose(rng).unwrap();
    json!({
        "customer": {"email": "quote@example.com", "name": "Quinn Otero"},
        "shipping_address": {"name": "Quinn Otero", "line1": "1 Test Way", "city": "Somewhere",
            "state": state, "postal_code": postal_code, "country": country},
        "items": items,
        "payment_method": "pm_card_visa",
        "currency": "usd"
    })
}

/// What a quote and a checkout both say about the money, in the checkout's shape.
fn amounts(answer: &Value) -> Value {
    let orders: Vec<Value> = answer["orders"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|o| {
            let items: Vec<Value> = o["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    json!({"sku": i["sku"], "title": i["title"], "quantity": i["quantity"],
                        "unit_price": i["unit_price"], "line_total": i["line_total"]})
                })
                .collect();
            json!({"store": o["store"], "subtotal": o["subtotal"], "shipping": o["shipping"],
                "tax": o["tax"], "total": o["total"], "items": items})
        })
        .collect();
    json!({"currency": answer["currency"], "subtotal": answer["subtotal"],
        "shipping": answer["shipping"], "tax": answer["tax"], "total": answer["total"],
        "orders": orders})
}

fn cents(amount: &Value) -> i64 {
    let text = amount.as_str().expect("an amount string");
    let (whole, fraction) = text.split_once('.').expect("two places");
    whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
}

#[tokio::test]
async fn a_quote_and_the_checkout_that_follows_agree_to_the_cent_over_random_carts() {
    let app = TestApp::spawn().await;
    // Enough stock that no random cart is short: this test is about the money.
    for (sku, ..) in demo::SKUS {
        app.set_stock(sku, 100_000).await;
    }
    sqlx::query("INSERT INTO tax_rates (country, region, rate) VALUES ('DE', '', 19), ('CA', '', 5), ('CA', 'QC', 14.975)")
        .execute(&app.pool)
        .await
        .unwrap();

    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut store_counts, mut shipping_seen, mut tax_seen) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for n in 0..CARTS {
        let cart = random_cart(&mut rng);
        let mut without_payment = cart.clone();
        without_payment
            .as_object_mut()
            .unwrap()
            .remove("payment_method");
        let (status, quoted) = quote(&app, &without_payment).await;
        assert_eq!(status, 200, "cart {n} (seed {SEED}): {cart}\n{quoted}");
        assert_eq!(quoted["in_stock"], true, "cart {n}: {quoted}");

        let response = app.submit(&format!("random-{n}"), &cart).await;
        assert_eq!(response.status(), 202, "cart {n} (seed {SEED}): {cart}");
        let checkout: Value = response.json().await.unwrap();
        assert_eq!(
            amounts(&quoted),
            amounts(&checkout),
            "cart {n} (seed {SEED}): the quote and the checkout disagree\n{cart}"
        );
        // The sums hold within the quote too, to the cent.
        let orders = quoted["orders"].as_array().unwrap();
        let sum = |field: &str| orders.iter().map(|o| cents(&o[field])).sum::<i64>();
        for field in ["subtotal", "shipping", "tax", "total"] {
            assert_eq!(cents(&quoted[field]), sum(field), "cart {n}: {field}");
        }
        store_counts.insert(orders.len());
        shipping_seen.insert(cents(&quoted["shipping"]) > 0);
        tax_seen.insert(cents(&quoted["tax"]) > 0);
    }
    // The carts covered what they are meant to: one, two and three stores; shipping
    // charged and free; taxed and untaxed.
    assert_eq!(store_counts, BTreeSet::from([1, 2, 3]));
    assert_eq!(shipping_seen, BTreeSet::from([false, true]));
    assert_eq!(tax_seen, BTreeSet::from([false, true]));
}

/// Tables a checkout writes to; a quote must leave every one as it was.
const WRITTEN_BY_A_CHECKOUT: &[&str] = &[
    "checkouts",
    "orders",
    "order_items",
    "reservations",
    "status_history",
    "idempotency_keys",
    "outbox",
    "ops_audit",
    "stock_alerts",
];

async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in WRITTEN_BY_A_CHECKOUT {
        counts.push(app.count(table).await);
    }
    let reserved: i64 = sqlx::query_scalar("SELECT sum(reserved)::BIGINT FROM skus")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    counts.push(reserved);
    counts
}

fn item<'a>(quoted: &'a Value, sku: &str) -> &'a Value {
    quoted["orders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap())
        .find(|i| i["sku"] == sku)
        .unwrap_or_else(|| panic!("{sku} in {quoted}"))
}

#[tokio::test]
async fn a_quote_names_the_short_lines_and_writes_and_holds_nothing() {
    let app = TestApp::spawn().await;
    app.set_stock("RACK-2001", 1).await;
    let mut body = demo_checkout();
    body["items"][1]["quantity"] = json!(3);
    let mut quote_body = body.clone();
    quote_body.as_object_mut().unwrap().remove("payment_method");

    let before = footprint(&app).await;
    let (status, quoted) = quote(&app, &quote_body).await;
    assert_eq!(status, 200, "{quoted}");
    assert_eq!(footprint(&app).await, before, "a quote writes nothing");

    assert_eq!(quoted["in_stock"], false);
    let rack = item(&quoted, "RACK-2001");
    assert_eq!(
        (rack["available"].as_i64(), &rack["short"]),
        (Some(1), &json!(true))
    );
    let nord = item(&quoted, "NORD-1001");
    assert_eq!(
        (nord["available"].as_i64(), &nord["short"]),
        (Some(40), &json!(false))
    );
    // A short line is still priced: 3 × 189.00, over the free-shipping threshold.
    assert_eq!(rack["line_total"], "567.00");
    assert_eq!(quoted["orders"][1]["shipping"], "0.00");

    // The checkout that follows is refused for the same line, with the same numbers.
    let response = app.submit("short-1", &body).await;
    assert_eq!(response.status(), 409);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "insufficient_stock");
    assert_eq!(refused["error"]["sku"], "RACK-2001");
    assert_eq!(refused["error"]["available"], 1);

    // Units a checkout holds are not available to the next quote.
    let held = app.submit("holds-2", &demo_checkout()).await;
    assert_eq!(held.status(), 202);
    let (_, quoted) = quote(&app, &quote_body).await;
    assert_eq!(item(&quoted, "NORD-1001")["available"], 38);
    assert_eq!(item(&quoted, "RACK-2001")["available"], 0);
    // And a quote that fits says so.
    body["items"] = json!([{"sku": "NORD-1001", "quantity": 38}]);
    let (status, quoted) = quote(&app, &body).await;
    assert_eq!(
        (status, &quoted["in_stock"]),
        (200, &json!(true)),
        "{quoted}"
    );
    assert_eq!(item(&quoted, "NORD-1001")["short"], false);
}

#[tokio::test]
async fn a_quote_refuses_bad_input_exactly_as_a_checkout_does() {
    let app = TestApp::spawn().await;
    let with = |mutate: &dyn Fn(&mut Value)| {
        let mut body = demo_checkout();
        mutate(&mut body);
        body
    };
    let cases = [
        with(&|b| {
            b.as_object_mut().unwrap().remove("customer");
        }),
        with(&|b| b["customer"]["email"] = json!("jane")),
        with(&|b| b["customer"]["reference"] = json!("")),
        with(&|b| b["customer"]["reference"] = json!("x".repeat(129))),
        with(&|b| b["customer"]["name"] = json!("Jane\u{202E}Doe")),
        with(&|b| b["shipping_address"]["state"] = json!(null)),
        with(&|b| b["items"] = json!([])),
        with(&|b| b["items"][1]["sku"] = json!("NORD-1001")),
        with(&|b| b["items"][0]["quantity"] = json!(0)),
        with(&|b| b["items"][0]["sku"] = json!("NOPE-1")),
        with(&|b| b["currency"] = json!("eur")),
        with(&|b| b["currency"] = json!("jpy")),
        with(&|b| b["coupon"] = json!("FREE")),
    ];
    for (i, body) in cases.iter().enumerate() {
        let (status, quoted) = quote(&app, body).await;
        let response = app.submit(&format!("bad-{i}"), body).await;
        let checkout_status = response.status().as_u16();
        let refused: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "case {i}: {body}\n{quoted}");
        assert_eq!(
            (status, &quoted["error"]["code"], &quoted["error"]["field"]),
            (
                checkout_status,
                &refused["error"]["code"],
                &refused["error"]["field"]
            ),
            "case {i}: {body}"
        );
    }
    assert_eq!(app.count("checkouts").await, 0);

    // The payment method is not the quote's business: absent, or anything at all.
    for payment_method in [json!(null), json!("not a payment method")] {
        let (status, quoted) = quote(
            &app,
            &with(&|b| b["payment_method"] = payment_method.clone()),
        )
        .await;
        assert_eq!(
            (status, &quoted["total"]),
            (200, &json!("405.68")),
            "{quoted}"
        );
    }

    // The envelope: key, role, content type, JSON.
    let url = app.url("/v1/quotes");
    let c = &app.client;
    let status = |r: reqwest::Response| r.status().as_u16();
    let sent = c.post(&url).json(&demo_checkout()).send().await.unwrap();
    assert_eq!(status(sent), 401);
    let sent = c
        .post(&url)
        .bearer_auth(&app.ops_key)
        .json(&demo_checkout())
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 403);
    let sent = c
        .post(&url)
        .bearer_auth(&app.storefront_key)
        .body(demo_checkout().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 415);
    let sent = c
        .post(&url)
        .bearer_auth(&app.storefront_key)
        .header("Content-Type", "application/json")
        .body("{\"items\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(status(sent), 400);
}
