//! Schemas vs reality: bodies the API accepts fit the request schemas and bodies it
//! refuses do not; real answers, successes and errors, fit the response schemas.

use cartwright_testkit::{TestApp, demo_checkout};
use reqwest::Method;
use serde_json::{Value, json};

use super::{resolve, spec};

/// A small JSON Schema checker: $ref, allOf, anyOf, type, enum, const, required,
/// properties, additionalProperties: false, items, min/maxItems, minimum/maximum,
/// min/maxLength. (Not pattern, format or if/then: those are left to the handlers' tests.)
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if schema.get("$ref").is_some() {
        check(spec, resolve(spec, schema), value, at, errors);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(spec, part, value, at, errors);
    }
    if let Some(options) = schema["anyOf"].as_array() {
        let fits = options.iter().any(|o| {
            let mut e = Vec::new();
            check(spec, o, value, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of anyOf"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        errors.push(format!("{at}: {value} is not {types:?}"));
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{at}: {value} is not {constant}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                errors.push(format!("{at}: {name} is required"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => check(spec, sub, field, &format!("{at}.{name}"), errors),
                None if schema["additionalProperties"] == false => {
                    errors.push(format!("{at}: {name} is not allowed"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if schema["minItems"]
            .as_u64()
            .is_some_and(|n| (items.len() as u64) < n)
        {
            errors.push(format!("{at}: fewer than minItems"));
        }
        if schema["maxItems"]
            .as_u64()
            .is_some_and(|n| items.len() as u64 > n)
        {
            errors.push(format!("{at}: more than maxItems"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(spec, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let Some(n) = value.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| n < min) {
            errors.push(format!("{at}: {n} below minimum"));
        }
        if schema["maximum"].as_f64().is_some_and(|max| n > max) {
            errors.push(format!("{at}: {n} above maximum"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| len < min) {
            errors.push(format!("{at}: shorter than minLength"));
        }
        if schema["maxLength"].as_u64().is_some_and(|max| len > max) {
            errors.push(format!("{at}: longer than maxLength"));
        }
    }
}

fn fits(spec: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(spec, schema, value, "$", &mut errors);
    errors
}

fn request_schema<'a>(spec: &'a Value, method: &str, path: &str) -> &'a Value {
    &spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
}

fn response_schema<'a>(spec: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let response = &spec["paths"][path][method]["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {path}: {status} is not documented"
    );
    &resolve(spec, response)["content"]["application/json"]["schema"]
}

#[test]
fn the_schema_checker_can_fail() {
    let spec = spec();
    let error = json!({"$ref": "#/components/schemas/Error"});
    assert!(
        fits(
            &spec,
            &error,
            &json!({"error": {"code": "not_found", "message": "x"}})
        )
        .is_empty()
    );
    for bad in [
        json!({"error": {"code": "no_such_code", "message": "x"}}),
        json!({"error": {"code": "not_found"}}),
        json!({"error": {"code": "not_found", "message": "x", "extra": 1}}),
        json!({"error": {"code": "insufficient_stock", "message": "x", "available": "3"}}),
    ] {
        assert!(!fits(&spec, &error, &bad).is_empty(), "{bad} must not fit");
    }
}

/// Bodies the API accepts fit the request schemas; bodies it refuses with 422 for a
/// reason a schema can say (shape, type, bounds, enum) do not.
#[tokio::test]
async fn request_schemas_accept_what_the_api_accepts_and_refuse_what_it_refuses() {
    let app = TestApp::spawn().await;
    let spec = spec();
    let checkout = request_schema(&spec, "post", "/v1/checkouts");
    let quote = request_schema(&spec, "post", "/v1/quotes");
    let store = request_schema(&spec, "put", "/v1/ops/stores/{id}");
    let sku = request_schema(&spec, "put", "/v1/ops/catalog/{sku}");
    let with = |mutate: &dyn Fn(&mut Value)| {
        let mut body = demo_checkout();
        mutate(&mut body);
        body
    };
    let many_lines: Vec<Value> = (0..101)
        .map(|i| json!({"sku": format!("S{i}"), "quantity": 1}))
        .collect();
    let valid_store = json!({"name": "Peak Gear", "placement_mode": "manual", "currency": "usd",
        "shipping_fee": "4.50", "free_shipping_threshold": "50", "website_url": "https://peak.example"});

    // (method, path, schema, body, whether the API takes it)
    let cases: Vec<(&str, &str, &Value, Value, bool)> = vec![
        ("POST", "/v1/checkouts", checkout, demo_checkout(), true),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["customer"]["phone"] = json!(null)),
            true,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| {
                b.as_object_mut().unwrap().remove("customer");
            }),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["coupon"] = json!("FREE")),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"][0]["price"] = json!("0.01")),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["customer"]["vip"] = json!(true)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["shipping_address"]["floor"] = json!(3)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"] = json!([])),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"] = json!(many_lines)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"][0]["quantity"] = json!(0)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"][0]["quantity"] = json!(100)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"][0]["quantity"] = json!("2")),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["items"][0]["quantity"] = json!(1.5)),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["currency"] = json!("jpy")),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["customer"]["name"] = json!("é".repeat(201))),
            false,
        ),
        (
            "POST",
            "/v1/checkouts",
            checkout,
            with(&|b| b["customer"]["email"] = json!(42)),
            false,
        ),
        ("POST", "/v1/quotes", quote, demo_checkout(), true),
        (
            "POST",
            "/v1/quotes",
            quote,
            with(&|b| {
                b.as_object_mut().unwrap().remove("payment_method");
                b["customer"]["reference"] = json!("cus_1");
            }),
            true,
        ),
        (
            "POST",
            "/v1/quotes",
            quote,
            with(&|b| b["customer"]["reference"] = json!("x".repeat(129))),
            false,
        ),
        (
            "POST",
            "/v1/quotes",
            quote,
            with(&|b| b["items"][0]["quantity"] = json!(100)),
            false,
        ),
        (
            "POST",
            "/v1/quotes",
            quote,
            with(&|b| {
                b.as_object_mut().unwrap().remove("currency");
            }),
            false,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-gear",
            store,
            valid_store.clone(),
            true,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-b",
            store,
            json!({"name": "P", "placement_mode": "automated", "currency": "usd", "shipping_fee": "0", "free_shipping_threshold": null}),
            true,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-c",
            store,
            json!({"name": "P", "placement_mode": "robot", "currency": "usd", "shipping_fee": "1"}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-c",
            store,
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": 1.5}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-c",
            store,
            json!({"placement_mode": "manual", "currency": "usd", "shipping_fee": "1"}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/stores/peak-c",
            store,
            json!({"name": "P", "placement_mode": "manual", "currency": "usd", "shipping_fee": "1", "owner": "x"}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-9000",
            sku,
            json!({"store": "nordwind", "title": "Camp Stove", "price": "45.00", "stock": 7, "low_stock_threshold": 2}),
            true,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-1001",
            sku,
            json!({"price": "10.00", "title": null}),
            true,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-1001",
            sku,
            json!({"stock": -1}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-1001",
            sku,
            json!({"stock": 1_000_001}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-1001",
            sku,
            json!({"low_stock_threshold": "2"}),
            false,
        ),
        (
            "PUT",
            "/v1/ops/catalog/NORD-1001",
            sku,
            json!({"colour": "red"}),
            false,
        ),
    ];
    let mut problems = Vec::new();
    for (i, (method, path, schema, body, accepted)) in cases.into_iter().enumerate() {
        let schema_errors = fits(&spec, schema, &body);
        let key = if method == "POST" {
            &app.storefront_key
        } else {
            &app.ops_key
        };
        let response = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .bearer_auth(key)
            .header("Idempotency-Key", format!("openapi-{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if accepted != (status < 300) {
            problems.push(format!("case {i} {method} {path}: API answered {status} {answer}, expected accepted={accepted}"));
        }
        if accepted != schema_errors.is_empty() {
            problems.push(format!("case {i} {method} {path}: schema says {schema_errors:?}, expected accepted={accepted}: {body}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Real answers, successes and errors, fit the response schemas the spec gives them.
#[tokio::test]
async fn responses_fit_the_documented_schemas() {
    let app = TestApp::spawn().await;
    let spec = spec();
    let mut problems = Vec::new();
    let mut expect = |method: &str, path: &str, status: u16, got: u16, body: &Value| {
        if got != status {
            problems.push(format!(
                "{method} {path}: expected {status}, got {got} {body}"
            ));
            return;
        }
        let errors = fits(&spec, response_schema(&spec, method, path, status), body);
        if !errors.is_empty() {
            problems.push(format!("{method} {path} {status}: {errors:?}\n{body}"));
        }
    };
    async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
    let c = &app.client;
    let (sf, ops) = (&app.storefront_key, &app.ops_key);

    let (s, b) = send(c.get(app.url("/healthz"))).await;
    expect("get", "/healthz", 200, s, &b);
    let (s, b) = send(c.get(app.url("/readyz"))).await;
    // 503 when RabbitMQ is down; the body has the same shape either way.
    expect("get", "/readyz", if s == 503 { 503 } else { 200 }, s, &b);

    // A checkout, then the same request again (the replay), then reads.
    let (s, checkout) = send(
        c.post(app.url("/v1/checkouts"))
            .bearer_auth(sf)
            .header("Idempotency-Key", "spec-1")
            .json(&demo_checkout()),
    )
    .await;
    expect("post", "/v1/checkouts", 202, s, &checkout);
    let (s, b) = send(
        c.post(app.url("/v1/checkouts"))
            .bearer_auth(sf)
            .header("Idempotency-Key", "spec-1")
            .json(&demo_checkout()),
    )
    .await;
    expect("post", "/v1/checkouts", 202, s, &b);
    let id = checkout["id"].as_str().unwrap_or("missing");
    let number = checkout["orders"][0]["number"]
        .as_str()
        .unwrap_or("missing");
    let (s, b) = send(
        c.get(app.url(&format!("/v1/checkouts/{id}")))
            .bearer_auth(sf),
    )
    .await;
    expect("get", "/v1/checkouts/{id}", 200, s, &b);
    let (s, b) = send(
        c.get(app.url(&format!("/v1/orders/{number}")))
            .bearer_auth(ops),
    )
    .await;
    expect("get", "/v1/orders/{number}", 200, s, &b);
    // Ops also see what the retailer charged, once it is known.
    sqlx::query(
        "UPDATE orders SET total_paid = total + 999, paid_over_expected = 999 WHERE number = $1",
    )
    .bind(number)
    .execute(&app.pool)
    .await
    .unwrap();
    let (s, b) = send(
        c.get(app.url(&format!("/v1/orders/{number}")))
            .bearer_auth(ops),
    )
    .await;
    assert_eq!(b["retailer_charge"]["difference"], "9.99", "{b}");
    expect("get", "/v1/orders/{number}", 200, s, &b);
    let (s, b) = send(
        c.get(app.url("/v1/orders?email=jane%40example.com&limit=1"))
            .bearer_auth(sf),
    )
    .await;
    assert!(b["next_cursor"].is_string(), "{b}");
    expect("get", "/v1/orders", 200, s, &b);
    let (s, b) = send(
        c.get(app.url("/v1/orders?customer=cus_1&cursor=x"))
            .bearer_auth(sf),
    )
    .await;
    expect("get", "/v1/orders", 400, s, &b);
    let (s, b) = send(c.get(app.url("/v1/orders?customer=cus_1")).bearer_auth(ops)).await;
    expect("get", "/v1/orders", 403, s, &b);
    let mut short = demo_checkout();
    short["items"][1]["quantity"] = json!(99);
    let (s, b) = send(c.post(app.url("/v1/quotes")).bearer_auth(sf).json(&short)).await;
    assert_eq!(b["in_stock"], false, "{b}");
    expect("post", "/v1/quotes", 200, s, &b);
    short["items"][0]["sku"] = json!("NOPE-1");
    let (s, b) = send(c.post(app.url("/v1/quotes")).bearer_auth(sf).json(&short)).await;
    expect("post", "/v1/quotes", 422, s, &b);
    let (s, b) = send(c.get(app.url("/v1/catalog")).bearer_auth(sf)).await;
    expect("get", "/v1/catalog", 200, s, &b);
    let (s, b) = send(
        c.get(app.url("/v1/catalog?store=nordwind"))
            .bearer_auth(ops),
    )
    .await;
    expect("get", "/v1/catalog", 200, s, &b);
    let (s, b) = send(c.get(app.url("/v1/ops/stores")).bearer_auth(ops)).await;
    expect("get", "/v1/ops/stores", 200, s, &b);

    let store = json!({"name": "Peak Gear", "placement_mode": "manual", "currency": "usd", "shipping_fee": "4.50"});
    let (s, b) = send(
        c.put(app.url("/v1/ops/stores/peak-gear"))
            .bearer_auth(ops)
            .json(&store),
    )
    .await;
    expect("put", "/v1/ops/stores/{id}", 201, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/stores/peak-gear"))
            .bearer_auth(ops)
            .json(&store),
    )
    .await;
    expect("put", "/v1/ops/stores/{id}", 200, s, &b);
    let new_sku = json!({"store": "peak-gear", "title": "Stove", "price": "45", "stock": 3});
    let (s, b) = send(
        c.put(app.url("/v1/ops/catalog/PEAK-1"))
            .bearer_auth(ops)
            .json(&new_sku),
    )
    .await;
    expect("put", "/v1/ops/catalog/{sku}", 201, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/catalog/PEAK-1"))
            .bearer_auth(ops)
            .json(&json!({"stock": 5})),
    )
    .await;
    expect("put", "/v1/ops/catalog/{sku}", 200, s, &b);

    let (s, b) = send(
        c.get(app.url("/v1/ops/dead-letters?status=dead&limit=10"))
            .bearer_auth(ops),
    )
    .await;
    expect("get", "/v1/ops/dead-letters", 200, s, &b);

    // Errors, each with the status and code list the spec gives it.
    let intake = |key: &str, idem: &str| {
        c.post(app.url("/v1/checkouts"))
            .bearer_auth(key)
            .header("Idempotency-Key", idem.to_owned())
    };
    let (s, b) = send(
        intake(sf, "e1")
            .header("Content-Type", "application/json")
            .body("{\"customer\": "),
    )
    .await;
    expect("post", "/v1/checkouts", 400, s, &b);
    let (s, b) = send(c.post(app.url("/v1/checkouts")).json(&demo_checkout())).await;
    expect("post", "/v1/checkouts", 401, s, &b);
    let (s, b) = send(intake(ops, "e2").json(&demo_checkout())).await;
    expect("post", "/v1/checkouts", 403, s, &b);
    let mut too_many = demo_checkout();
    too_many["items"][1]["quantity"] = json!(99);
    let (s, b) = send(intake(sf, "e3").json(&too_many)).await;
    expect("post", "/v1/checkouts", 409, s, &b);
    let huge = json!({"customer": {"name": "x".repeat(70_000)}});
    let (s, b) = send(intake(sf, "e4").json(&huge)).await;
    expect("post", "/v1/checkouts", 413, s, &b);
    let (s, b) = send(intake(sf, "e5").body("hello")).await;
    expect("post", "/v1/checkouts", 415, s, &b);
    let (s, b) = send(
        c.post(app.url("/v1/checkouts"))
            .bearer_auth(sf)
            .json(&demo_checkout()),
    )
    .await;
    expect("post", "/v1/checkouts", 422, s, &b);
    let mut other = demo_checkout();
    other["items"][0]["quantity"] = json!(3);
    let (s, b) = send(intake(sf, "spec-1").json(&other)).await;
    expect("post", "/v1/checkouts", 422, s, &b);
    let (s, b) = send(c.get(app.url("/v1/checkouts/chk_nope")).bearer_auth(sf)).await;
    expect("get", "/v1/checkouts/{id}", 404, s, &b);
    let (s, b) = send(c.get(app.url("/v1/orders/MO-NOPE")).bearer_auth(sf)).await;
    expect("get", "/v1/orders/{number}", 404, s, &b);
    let (s, b) = send(c.get(app.url("/v1/ops/stores")).bearer_auth(sf)).await;
    expect("get", "/v1/ops/stores", 403, s, &b);
    let (s, b) = send(c.put(app.url("/v1/ops/stores/nordwind")).bearer_auth(ops).json(&json!({"name": "N", "placement_mode": "manual", "currency": "eur", "shipping_fee": "1"}))).await;
    expect("put", "/v1/ops/stores/{id}", 409, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/stores/Bad%20Id"))
            .bearer_auth(ops)
            .json(&store),
    )
    .await;
    expect("put", "/v1/ops/stores/{id}", 422, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/catalog/PEAK-1"))
            .bearer_auth(ops)
            .json(&json!({"stock": -1})),
    )
    .await;
    expect("put", "/v1/ops/catalog/{sku}", 422, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/catalog/PEAK-2"))
            .bearer_auth(ops)
            .json(&json!({"store": "nowhere", "title": "T", "price": "1", "stock": 1})),
    )
    .await;
    expect("put", "/v1/ops/catalog/{sku}", 422, s, &b);
    let (s, b) = send(
        c.put(app.url("/v1/ops/catalog/NORD-1001"))
            .bearer_auth(ops)
            .json(&json!({"stock": 0})),
    )
    .await;
    expect("put", "/v1/ops/catalog/{sku}", 409, s, &b);

    let (s, b) = send(
        c.get(app.url("/v1/ops/dead-letters?limit=0"))
            .bearer_auth(ops),
    )
    .await;
    expect("get", "/v1/ops/dead-letters", 422, s, &b);
    let (s, b) = send(
        c.post(app.url("/v1/ops/dead-letters/replay"))
            .bearer_auth(ops)
            .json(&json!({})),
    )
    .await;
    expect("post", "/v1/ops/dead-letters/replay", 422, s, &b);
    let (s, b) = send(
        c.post(app.url("/v1/ops/dead-letters/replay"))
            .bearer_auth(ops)
            .json(&json!({"id": 999_999})),
    )
    .await;
    expect("post", "/v1/ops/dead-letters/replay", 404, s, &b);
    let (s, b) = send(
        c.delete(app.url("/v1/ops/dead-letters/999999"))
            .bearer_auth(ops),
    )
    .await;
    expect("delete", "/v1/ops/dead-letters/{id}", 404, s, &b);

    // The route fallbacks answer with the shared responses.
    for (method, status, name) in [
        (Method::GET, 404, "NotFound"),
        (Method::DELETE, 405, "MethodNotAllowed"),
    ] {
        let path = if status == 404 {
            "/v1/nothing"
        } else {
            "/v1/checkouts"
        };
        let (s, b) = send(c.request(method, app.url(path))).await;
        let schema =
            &spec["components"]["responses"][name]["content"]["application/json"]["schema"];
        let errors = fits(&spec, schema, &b);
        if s != status || !errors.is_empty() {
            problems.push(format!("{path}: {s} {b} {errors:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
