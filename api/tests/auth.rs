//! Every route but the health checks wants a valid key (401 without one) of the right
//! role (403 with the other role); revoked keys are refused like unknown ones.

use cartwright_testkit::{TestApp, demo_checkout};
use reqwest::Method;
use serde_json::{Value, json};

/// (method, path, body, the role that may call it: None for any role)
fn routes() -> Vec<(Method, &'static str, Value, Option<&'static str>)> {
    vec![
        (
            Method::POST,
            "/v1/checkouts",
            demo_checkout(),
            Some("storefront"),
        ),
        (Method::GET, "/v1/checkouts/chk_x", Value::Null, None),
        (Method::GET, "/v1/orders/MO-X", Value::Null, None),
        (Method::GET, "/v1/catalog", Value::Null, None),
        (Method::GET, "/v1/ops/stores", Value::Null, Some("ops")),
        (
            Method::PUT,
            "/v1/ops/stores/nordwind",
            json!({"name": "N"}),
            Some("ops"),
        ),
        (
            Method::PUT,
            "/v1/ops/catalog/NORD-1001",
            json!({"price": "1.00"}),
            Some("ops"),
        ),
    ]
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .header("Idempotency-Key", "auth-test");
    if !body.is_null() {
        request = request.json(body);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_route_checks_the_key_and_its_role() {
    let app = TestApp::spawn().await;
    let revoked = app
        .key("gone", cartwright_shared::api_keys::Role::Ops)
        .await;
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE principal = 'gone'")
        .execute(&app.pool)
        .await
        .unwrap();

    for (method, path, body, role) in routes() {
        for key in [None, Some("cw_sf_not-a-real-key"), Some(revoked.as_str())] {
            let (status, error) = call(&app, &method, path, &body, key).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}");
            assert_eq!(error["error"]["code"], "unauthenticated");
        }
        let wrong = match role {
            Some("storefront") => Some(&app.ops_key),
            Some("ops") => Some(&app.storefront_key),
            _ => None,
        };
        if let Some(key) = wrong {
            let (status, error) = call(&app, &method, path, &body, Some(key)).await;
            assert_eq!(status, 403, "{method} {path} with the wrong role");
            assert_eq!(error["error"]["code"], "forbidden");
        }
    }
    // Nothing got through.
    assert_eq!(app.count("checkouts").await, 0);
    let name: String = sqlx::query_scalar("SELECT name FROM stores WHERE id = 'nordwind'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "Nordwind Outfitters");
}

#[tokio::test]
async fn health_needs_no_key_and_readiness_checks_the_database() {
    let app = TestApp::spawn().await;
    let (status, body) = call(&app, &Method::GET, "/healthz", &Value::Null, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = call(&app, &Method::GET, "/readyz", &Value::Null, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for hash in stored {
        assert_eq!(hash.len(), 32);
        assert!(!String::from_utf8_lossy(&hash).contains(&app.storefront_key[6..]));
    }
    let dump: String = sqlx::query_scalar("SELECT string_agg(key_prefix, ',') FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        !dump.contains(&app.storefront_key),
        "only a short prefix is kept in the clear"
    );
}

#[tokio::test]
async fn intake_is_rate_limited_per_key() {
    let app =
        TestApp::spawn_with(&[("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "2")]).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..4 {
        let response = app.submit(&format!("rl-{i}"), &demo_checkout()).await;
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(&statuses[..2], &[202, 202]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Another storefront's key has its own allowance.
    let other = app
        .key("shop-b", cartwright_shared::api_keys::Role::Storefront)
        .await;
    let response = app
        .client
        .post(app.url("/v1/checkouts"))
        .bearer_auth(other)
        .header("Idempotency-Key", "other")
        .json(&demo_checkout())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn metrics_are_for_ops_and_count_requests_by_route() {
    let app = TestApp::spawn().await;
    app.submit("metrics-1", &demo_checkout()).await;
    let (status, _) = call(
        &app,
        &Method::GET,
        "/metrics",
        &Value::Null,
        Some(&app.storefront_key),
    )
    .await;
    assert_eq!(status, 403);
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&app.ops_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("cartwright_http_requests_total")
                && l.contains("route=\"/v1/checkouts\"")
                && l.contains("status=\"202\"")),
        "{text}"
    );
    assert!(
        text.contains("cartwright_http_request_seconds_bucket"),
        "latency histogram"
    );
}

/// Every operation the OpenAPI description reserves for ops, with every method it lists:
/// no key is 401 (with `WWW-Authenticate: Bearer`), a storefront key is 403, and neither
/// changes anything. Driven by the spec, so a new ops route is covered the day it is added.
#[tokio::test]
async fn every_ops_operation_in_the_spec_refuses_no_key_and_storefront_keys() {
    let app = TestApp::spawn().await;
    let spec: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let before = snapshot(&app).await;
    let mut walked = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(roles) = operation["security"][0]["bearer"].as_array() else {
                continue;
            };
            if roles != &[json!("ops")] {
                continue;
            }
            // `{number}`, `{id}`, `{sku}`: "1" fits every parameter's type.
            let concrete: String = path
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let body = operation["requestBody"]["content"]["application/json"]["examples"]
                .as_object()
                .and_then(|examples| examples.values().next())
                .map(|example| example["value"].clone())
                .unwrap_or_else(|| {
                    if operation.get("requestBody").is_some() {
                        json!({})
                    } else {
                        Value::Null
                    }
                });
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let name = format!("{method} {concrete}");

            let mut request = app.client.request(method.clone(), app.url(&concrete));
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{name} without a key");
            assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "unauthenticated", "{name}");

            let (status, error) =
                call(&app, &method, &concrete, &body, Some(&app.storefront_key)).await;
            assert_eq!(status, 403, "{name} with a storefront key");
            assert_eq!(error["error"]["code"], "forbidden", "{name}");
            walked.push(name);
        }
    }
    // The walk must have found the ops API, or it would pass on nothing.
    assert!(walked.len() >= 18, "only {walked:?}");
    assert!(
        walked.contains(&"PUT /v1/ops/catalog/1".to_owned()),
        "{walked:?}"
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused request changed something"
    );
}

/// A digest of every row an ops request could write.
async fn snapshot(app: &TestApp) -> String {
    let mut digest = String::new();
    for table in [
        "stores",
        "skus",
        "orders",
        "manual_placements",
        "refunds",
        "dead_letters",
        "ops_audit",
        "outbox",
        "status_history",
    ] {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"
        )))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        digest.push_str(&format!("{table}={rows:?};"));
    }
    digest
}

/// The console's HTML pages and forms (src/console/mod.rs) send anyone without a session
/// to the sign-in page, API key or not: a Bearer key is not a console session.
#[tokio::test]
async fn every_console_route_refuses_a_request_without_a_session() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let routes = [
        (Method::GET, "/ops"),
        (Method::GET, "/ops/queue"),
        (Method::GET, "/ops/orders/{number}"),
        (Method::POST, "/ops/orders/{number}/{action}"),
        (Method::GET, "/ops/dead-letters"),
        (Method::POST, "/ops/dead-letters/{id}/{action}"),
        (Method::GET, "/ops/stores"),
        (Method::POST, "/ops/stores/{id}"),
        (Method::POST, "/ops/skus/{sku}/stock"),
        (Method::GET, "/ops/stats"),
        (Method::POST, "/ops/sign-out"),
    ];
    // Every console route but the sign-in page and its stylesheet and script (public
    // files, needed before anyone signs in) is in the list above.
    let public = [
        "/ops/sign-in",
        "/ops/static/console.css",
        "/ops/static/console.js",
    ];
    let source = include_str!("../src/console/mod.rs");
    for template in source.split('"').filter(|s| s.starts_with("/ops")) {
        assert!(
            public.contains(&template) || routes.iter().any(|(_, r)| *r == template),
            "console route {template} is not walked here"
        );
    }
    let before = snapshot(&app).await;
    for (method, template) in routes {
        let path = template
            .replace("{number}", "MO-X")
            .replace("{action}", "claim")
            .replace("{id}", "1")
            .replace("{sku}", "NORD-1001");
        for key in [None, Some(&app.ops_key), Some(&app.storefront_key)] {
            let mut request = client.request(method.clone(), app.url(&path)).form(&[
                ("csrf", "x"),
                ("stock", "0"),
                ("name", "Hijacked"),
            ]);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 303, "{method} {path} with {key:?}");
            assert_eq!(response.headers()["location"], "/ops/sign-in");
        }
    }
    assert_eq!(snapshot(&app).await, before);
}
