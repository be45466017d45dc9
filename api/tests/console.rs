//! The ops console over plain HTTP: sign-in, the session cookie, CSRF on every form.
//! (tests/console_browser.rs drives it in a real browser.)

use cartwright_testkit::TestApp;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="csrf"` in a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

async fn sign_in(app: &TestApp, client: &reqwest::Client, key: &str) -> reqwest::Response {
    let form = client.get(app.url("/ops/sign-in")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let token = csrf_of(&form.text().await.unwrap());
    client
        .post(app.url("/ops/sign-in"))
        .form(&[("csrf", token.as_str()), ("key", key)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_gives_a_session_cookie_never_the_key() {
    let app = TestApp::spawn().await;
    let client = client();
    let response = client.get(app.url("/ops/queue")).send().await.unwrap();
    assert_eq!(response.status(), 303, "signed out: to the sign-in page");
    assert_eq!(response.headers()["location"], "/ops/sign-in");

    let response = sign_in(&app, &client, &app.ops_key).await;
    assert_eq!(response.status(), 303);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("cw_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain HTTP here");
    assert!(
        !cookies.iter().any(|c| c.contains(&app.ops_key)),
        "the key is never a cookie"
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM console_sessions WHERE principal = 'ops-alice'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, 1);
    let page = client.get(app.url("/ops/queue")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ops-alice"));

    // Behind HTTPS (a proxy says so), the cookie is Secure.
    let form = client.get(app.url("/ops/sign-in")).send().await.unwrap();
    let token = csrf_of(&form.text().await.unwrap());
    let response = client
        .post(app.url("/ops/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("csrf", token.as_str()), ("key", app.ops_key.as_str())])
        .send()
        .await
        .unwrap();
    let secure = response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("cw_session=") && c.to_str().unwrap().contains("; Secure")
    });
    assert!(secure);
}

#[tokio::test]
async fn a_wrong_key_or_a_storefront_key_is_refused() {
    let app = TestApp::spawn().await;
    let client = client();
    for key in ["cw_ops_not-a-real-key", app.storefront_key.as_str()] {
        let response = sign_in(&app, &client, key).await;
        assert_eq!(response.status(), 401);
        let page = response.text().await.unwrap();
        assert!(page.contains("That key was not accepted"), "{page}");
    }
    let response = client.get(app.url("/ops/queue")).send().await.unwrap();
    assert_eq!(response.status(), 303, "still signed out");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let number = app.manual_queue_order("csrf").await;
    let client = client();
    // Sign-in itself needs its token.
    let response = client
        .post(app.url("/ops/sign-in"))
        .form(&[("key", app.ops_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    assert_eq!(sign_in(&app, &client, &app.ops_key).await.status(), 303);
    let claim = app.url(&format!("/ops/orders/{number}/claim"));
    for form in [vec![], vec![("csrf", "forged-token")]] {
        let response = client.post(&claim).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(response.text().await.unwrap().contains("security token"));
    }
    let held: Option<String> =
        sqlx::query_scalar("SELECT claimed_by FROM manual_placements WHERE order_number = $1")
            .bind(&number)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, None, "nothing claimed");
    for path in [
        "/ops/stores/nordwind",
        "/ops/skus/NORD-1001/stock",
        "/ops/dead-letters/1/discard",
        "/ops/sign-out",
    ] {
        let response = client
            .post(app.url(path))
            .form(&[("stock", "5")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }

    // With the token it works, and a bad field is explained.
    let page = client
        .get(app.url(&format!("/ops/orders/{number}")))
        .send()
        .await
        .unwrap();
    let token = csrf_of(&page.text().await.unwrap());
    let response = client
        .post(&claim)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let response = client
        .post(app.url(&format!("/ops/orders/{number}/placed")))
        .form(&[
            ("csrf", token.as_str()),
            ("store_order_number", ""),
            ("total_paid", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("store_order_number is required")
    );
    let response = client
        .post(app.url("/ops/skus/NORD-1001/stock"))
        .form(&[("csrf", token.as_str()), ("stock", "lots")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("whole number"));

    // A NUL character (which PostgreSQL cannot store) is refused before any query.
    let response = client
        .post(app.url(&format!("/ops/orders/{number}/placed")))
        .form(&[
            ("csrf", token.as_str()),
            ("store_order_number", "R-1\0"),
            ("total_paid", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("NUL character"));
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(&number)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "awaiting_manual", "nothing was written");
}

#[tokio::test]
async fn a_placed_order_shows_what_the_retailer_charged_over_the_expected_total() {
    let app = TestApp::spawn().await;
    let number = app.manual_queue_order("console-overpaid").await;
    let total: String = sqlx::query_scalar("SELECT total::TEXT FROM orders WHERE number = $1")
        .bind(&number)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let expected: i64 = total.parse().unwrap();
    let paid = expected + 2_500;
    let api = reqwest::Client::new();
    for (action, body) in [
        ("claim", serde_json::json!({})),
        (
            "placed",
            serde_json::json!({"store_order_number": "NW-9",
                "total_paid": format!("{}.{:02}", paid / 100, paid % 100)}),
        ),
    ] {
        let response = api
            .post(app.url(&format!("/v1/ops/placements/{number}/{action}")))
            .bearer_auth(&app.ops_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{action}");
    }

    let page = order_page_as_ops(&app, &number).await;
    assert!(page.contains("id=\"retailer-charge\""), "{page}");
    assert!(
        page.contains("<strong id=\"charge-difference\">25.00</strong>"),
        "{page}"
    );
    assert!(page.contains("over the store's tolerance"), "{page}");
}

#[tokio::test]
async fn deployed_the_cookies_are_secure_https_is_pinned_and_no_inline_script_or_style_runs() {
    // Without CONSOLE_PLAIN_HTTP, as deployed behind HTTPS.
    let app = TestApp::spawn_with(&[("CONSOLE_PLAIN_HTTP", "false")]).await;
    let form = client().get(app.url("/ops/sign-in")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let headers = form.headers().clone();
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("script-src 'self'") && policy.contains("style-src 'self'"));
    let page = form.text().await.unwrap();
    assert!(
        !page.contains("<style") && !page.contains("style=\""),
        "{page}"
    );
    assert!(page.contains("/ops/static/console.css"));

    for (path, kind) in [
        ("/ops/static/console.css", "text/css"),
        ("/ops/static/console.js", "text/javascript"),
    ] {
        let file = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(file.status(), 200, "{path}");
        assert!(
            file.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(!file.text().await.unwrap().is_empty());
    }
}

/// An `ops_audit` row as (actor, action, target, detail), newest last.
async fn audit_rows(app: &TestApp, target: &str) -> Vec<(String, String, String, Value)> {
    sqlx::query_as(
        "SELECT actor, action, target, detail FROM ops_audit WHERE target = $1 ORDER BY id",
    )
    .bind(target)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn stock_low_events(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = 'stock.low' ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// A stock or store change is one change whichever face ops use: the API's and the
/// console's write the same audit row, and the console's restock raises and resolves
/// low-stock alerts as the API's does.
#[tokio::test]
async fn the_api_and_the_console_make_the_same_audited_change() {
    let app = TestApp::spawn().await;
    let client = client();
    assert_eq!(sign_in(&app, &client, &app.ops_key).await.status(), 303);
    let page = client.get(app.url("/ops/stores")).send().await.unwrap();
    let token = csrf_of(&page.text().await.unwrap());
    let restock = |stock: &'static str| {
        client
            .post(app.url("/ops/skus/NORD-1001/stock"))
            .form(&[("csrf", token.as_str()), ("stock", stock)])
            .send()
    };

    // NORD-1001: 40 in stock, threshold 5. The API sets 30, the console 4: at the
    // threshold, which raises a `low` alert in the same change.
    let (status, body) = app
        .send_json(
            reqwest::Method::PUT,
            "/v1/ops/catalog/NORD-1001",
            &app.ops_key,
            &json!({"stock": 30}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(restock("4").await.unwrap().status(), 303);
    let rows = audit_rows(&app, "sku:NORD-1001").await;
    let expected = |stock: i64| {
        (
            "key:ops-alice".to_owned(),
            "sku.update".to_owned(),
            "sku:NORD-1001".to_owned(),
            json!({"stock": stock}),
        )
    };
    assert_eq!(rows, [expected(30), expected(4)]);
    assert_eq!(
        stock_low_events(&app).await,
        [json!({"sku": "NORD-1001", "level": "low", "available": 4, "threshold": 5})]
    );

    // The alert worker opens the alert; a console restock above the threshold resolves it.
    sqlx::query(
        "INSERT INTO stock_alerts (sku, level, available, threshold, event_id)
         VALUES ('NORD-1001', 'low', 4, 5, gen_random_uuid())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(restock("12").await.unwrap().status(), 303);
    let (_, alerts) = app.get_json("/v1/ops/alerts", &app.ops_key).await;
    assert_eq!(alerts["alerts"], json!([]), "resolved by the restock");

    // A store: the API replaces it, the console edits it; one kind of row, and the
    // console's edit keeps what its form does not show.
    let store = json!({"name": "Nordwind Outdoor", "placement_mode": "manual", "currency": "usd",
        "shipping_fee": "5.95", "free_shipping_threshold": "100.00",
        "website_url": "https://nordwind.example", "price_tolerance_bps": 300});
    let (status, body) = app
        .send_json(
            reqwest::Method::PUT,
            "/v1/ops/stores/nordwind",
            &app.ops_key,
            &store,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let response = client
        .post(app.url("/ops/stores/nordwind"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "Nordwind"),
            ("placement_mode", "automated"),
            ("website_url", "https://nordwind.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let rows = audit_rows(&app, "store:nordwind").await;
    let stored = |name: &str, mode: &str| {
        (
            "key:ops-alice".to_owned(),
            "store.update".to_owned(),
            "store:nordwind".to_owned(),
            json!({"name": name, "placement_mode": mode, "currency": "usd",
                "shipping_fee": "5.95", "free_shipping_threshold": "100.00",
                "website_url": "https://nordwind.example", "price_tolerance_bps": 300}),
        )
    };
    assert_eq!(
        rows,
        [
            stored("Nordwind Outdoor", "manual"),
            stored("Nordwind", "automated")
        ]
    );
}

/// The value of `name="{name}"` in a page.
fn field_of(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("a {name} field"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// The refund form refunds once however often it is sent, and the refund is on its
/// order's page with the rest of the order's activity.
#[tokio::test]
async fn the_refund_form_refunds_once_and_shows_in_its_orders_activity() {
    let app = TestApp::spawn().await;
    let number = app.manual_queue_order("refund-trail").await;
    for (action, body) in [
        ("claim", None),
        ("placed", Some(json!({"store_order_number": "NW-1"}))),
    ] {
        let mut request = app
            .client
            .post(app.url(&format!("/v1/ops/placements/{number}/{action}")))
            .bearer_auth(&app.ops_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        assert_eq!(request.send().await.unwrap().status(), 200, "{action}");
    }
    // Settled, as the payment worker leaves it once the placed order is captured.
    sqlx::query(
        "UPDATE checkouts SET status = 'completed'
         WHERE id = (SELECT checkout_id FROM orders WHERE number = $1)",
    )
    .bind(&number)
    .execute(&app.pool)
    .await
    .unwrap();

    let client = client();
    assert_eq!(sign_in(&app, &client, &app.ops_key).await.status(), 303);
    let page = client
        .get(app.url(&format!("/ops/orders/{number}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"refund-form\""), "{page}");
    assert!(
        !page.contains("id=\"cancel-form\""),
        "a placed order cannot be cancelled"
    );
    let (token, key) = (csrf_of(&page), field_of(&page, "idempotency_key"));
    let form = [
        ("csrf", token.as_str()),
        ("idempotency_key", key.as_str()),
        ("amount", "10.00"),
        ("refund_reason", "requested_by_customer"),
    ];
    // Sent twice (a double click, a reload): one refund.
    for _ in 0..2 {
        let response = client
            .post(app.url(&format!("/ops/orders/{number}/refund")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
    }
    let refunds: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT amount, reason FROM refunds WHERE order_number = $1")
            .bind(&number)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(refunds, [(1000, Some("requested_by_customer".to_owned()))]);
    // A reason Stripe does not know: the page says so, nothing is written.
    let bad = client
        .post(app.url(&format!("/ops/orders/{number}/refund")))
        .form(&[
            ("csrf", token.as_str()),
            ("idempotency_key", "another"),
            ("refund_reason", "boredom"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("reason must be one of"));

    let (_, instructions) = app
        .get_json(&format!("/v1/ops/placements/{number}"), &app.ops_key)
        .await;
    let actions: Vec<&str> = instructions["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.last(),
        Some(&"order.refund_requested"),
        "{actions:?}"
    );
    let page = order_page_as_ops(&app, &number).await;
    assert!(page.contains("order.refund_requested"), "{page}");
    assert!(page.contains("id=\"refunds\""), "{page}");
}

/// The cancel form takes a waiting order out of the queue.
#[tokio::test]
async fn the_cancel_form_takes_an_order_out_of_the_queue() {
    let app = TestApp::spawn().await;
    let number = app.manual_queue_order("cancel-form").await;
    let client = client();
    assert_eq!(sign_in(&app, &client, &app.ops_key).await.status(), 303);
    let page = client
        .get(app.url(&format!("/ops/orders/{number}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"cancel-form\""), "{page}");
    assert!(
        !page.contains("id=\"refund-form\""),
        "nothing was paid for yet"
    );
    let token = csrf_of(&page);
    let blank = client
        .post(app.url(&format!("/ops/orders/{number}/cancel")))
        .form(&[("csrf", token.as_str()), ("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(blank.status(), 422, "a reason is required");
    let response = client
        .post(app.url(&format!("/ops/orders/{number}/cancel")))
        .form(&[("csrf", token.as_str()), ("reason", "customer called")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (order, queue): (String, String) = sqlx::query_as(
        "SELECT o.status, mp.status FROM orders o JOIN manual_placements mp ON mp.order_number = o.number
         WHERE o.number = $1",
    )
    .bind(&number)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((order.as_str(), queue.as_str()), ("cancelled", "cancelled"));
    let audit = audit_rows(&app, &format!("order:{number}")).await;
    assert!(
        audit
            .iter()
            .any(|(actor, action, _, detail)| actor == "key:ops-alice"
                && action == "order.cancel"
                && detail["reason"] == "customer called"),
        "{audit:?}"
    );
}

/// The console's page of an order, read by a freshly signed-in ops person.
async fn order_page_as_ops(app: &TestApp, number: &str) -> String {
    let client = client();
    assert_eq!(sign_in(app, &client, &app.ops_key).await.status(), 303);
    client
        .get(app.url(&format!("/ops/orders/{number}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The order page lists each line's options (`none` for a SKU without any).
#[tokio::test]
async fn the_order_page_lists_each_lines_options() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send_json(
            reqwest::Method::PUT,
            "/v1/ops/catalog/NORD-1001",
            &app.ops_key,
            &serde_json::json!({"options": {"size": "42", "colour": "navy"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let number = app.manual_queue_order("console-options").await;
    let page = order_page_as_ops(&app, &number).await;
    assert!(
        page.contains(
            r#"<td class="options"><span class="option" data-option="colour">colour: <strong>navy</strong></span>, <span class="option" data-option="size">size: <strong>42</strong></span></td>"#
        ),
        "{page}"
    );
}
