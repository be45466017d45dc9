//! The OpenAPI description (`api/openapi.json`, served at `/openapi.json`) and the code
//! agree: the router has exactly the spec's paths and methods, each answers as the spec's
//! security and responses say, every error code the code can give is in the spec's enum,
//! and real requests and responses fit the spec's schemas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cartwright_testkit::{TestApp, demo_checkout};
use reqwest::Method;
use serde_json::{Value, json};

const SPEC: &str = include_str!("../openapi.json");
const ROUTES_SRC: &str = include_str!("../src/routes/mod.rs");
const ERROR_SRC: &str = include_str!("../src/error.rs");

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    serde_json::from_str(SPEC).expect("api/openapi.json is JSON")
}

/// Follows `$ref`s (internal ones only: `#/components/...`).
fn resolve<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(target) = node.get("$ref").and_then(Value::as_str) {
        node = target
            .strip_prefix('#')
            .and_then(|pointer| spec.pointer(pointer))
            .unwrap_or_else(|| panic!("$ref {target} does not resolve"));
    }
    node
}

/// (METHOD, path) of every operation in the spec.
fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// (METHOD, path) of every `.route("path", method(handler)...)` in the routes source.
fn router_routes(source: &str) -> BTreeSet<(String, String)> {
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut routes = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(start) = rest.find(".route(") {
        let after = &rest[start + ".route(".len()..];
        // The call's arguments: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = after
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("a .route( call closes");
        let args = &after[..end];
        let path = args
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("no path literal in .route({args})"));
        let methods_part = &args[args.find(path).expect("path") + path.len() + 1..];
        for method in [
            "get", "post", "put", "patch", "delete", "head", "options", "trace",
        ] {
            let pattern = format!("{method}(");
            let used = methods_part.match_indices(&pattern).any(|(i, _)| {
                methods_part[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace() || "(.,".contains(c))
            });
            if used {
                routes.insert((method.to_uppercase(), path.to_owned()));
            }
        }
        rest = &after[end..];
    }
    routes
}

/// `/v1/checkouts/{id}` with each path parameter replaced by its example.
fn concrete_path(spec: &Value, path: &str, operation: &Value) -> String {
    let mut concrete = path.to_owned();
    for parameter in parameters(spec, path, operation) {
        if parameter["in"] == "path" {
            let name = parameter["name"].as_str().expect("parameter name");
            let example = match &parameter["example"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => panic!("path parameter {name} of {path} has no example"),
            };
            concrete = concrete.replace(&format!("{{{name}}}"), &example);
        }
    }
    concrete
}

fn parameters<'a>(spec: &'a Value, path: &str, operation: &'a Value) -> Vec<&'a Value> {
    let path_level = spec["paths"][path]["parameters"].as_array();
    let op_level = operation["parameters"].as_array();
    path_level
        .into_iter()
        .chain(op_level)
        .flatten()
        .map(|p| resolve(spec, p))
        .collect()
}

/// The roles an operation accepts: `None` for no key at all, `Some([])` for any role.
fn roles(spec: &Value, operation: &Value) -> Option<Vec<String>> {
    let requirements = operation.get("security").unwrap_or(&spec["security"]);
    let requirements = requirements.as_array().expect("security is a list");
    if requirements.is_empty() {
        return None;
    }
    let names = requirements[0]["bearer"]
        .as_array()
        .expect("bearer requirement");
    Some(
        names
            .iter()
            .map(|r| r.as_str().expect("role").to_owned())
            .collect(),
    )
}

fn documented_statuses(operation: &Value) -> BTreeSet<u16> {
    operation["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|k| {
            k.parse()
                .unwrap_or_else(|_| panic!("response key {k} is not a status"))
        })
        .collect()
}

async fn call(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn is_route_fallback(status: u16, body: &Value) -> bool {
    status == 404
        && body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("route not found"))
}

// ---------------------------------------------------------------- (a) the document

#[tokio::test]
async fn the_spec_is_served_and_is_openapi_3_1() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without a key");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served: Value = response.json().await.expect("served spec parses as JSON");
    assert_eq!(served, spec(), "the served document is api/openapi.json");

    let spec = spec();
    let version = spec["openapi"].as_str().expect("openapi field");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1, not {version}");
    assert_eq!(spec["info"]["title"], "Cartwright API");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        spec["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Bearer"))
    );
    assert!(spec["servers"][0]["url"].is_string());
    let bearer = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (bearer["type"].as_str(), bearer["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
}

#[test]
fn the_spec_is_well_formed() {
    let spec = spec();
    let mut problems = Vec::new();

    // Every $ref resolves.
    fn refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
        match node {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    refs(&spec, &mut targets);
    for target in targets {
        if target
            .strip_prefix('#')
            .and_then(|p| spec.pointer(p))
            .is_none()
        {
            problems.push(format!("$ref {target} does not resolve"));
        }
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path) in spec_operations(&spec) {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        let name = format!("{method} {path}");
        match operation["operationId"].as_str() {
            Some(id) if operation_ids.insert(id.to_owned()) => {}
            other => problems.push(format!("{name}: operationId {other:?} missing or repeated")),
        }
        // Path parameters declared are exactly those in the template.
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let declared: BTreeSet<String> = parameters(&spec, &path, operation)
            .into_iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                if p["required"] != true {
                    problems.push(format!(
                        "{name}: path parameter {} must be required",
                        p["name"]
                    ));
                }
                p["name"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        if in_template != declared {
            problems.push(format!(
                "{name}: path parameters {declared:?}, template has {in_template:?}"
            ));
        }
        // What every operation of its kind can answer is documented.
        let statuses = documented_statuses(operation);
        let mut expected: Vec<u16> = Vec::new();
        match roles(&spec, operation) {
            None => {}
            Some(roles) if roles.is_empty() => expected.extend([401, 500, 503]),
            Some(_) => expected.extend([401, 403, 500, 503]),
        }
        if operation.get("requestBody").is_some() {
            expected.extend([400, 413, 415, 422]);
        }
        for status in expected {
            if !statuses.contains(&status) {
                problems.push(format!("{name}: response {status} is not documented"));
            }
        }
        if statuses.iter().all(|s| *s >= 300) {
            problems.push(format!("{name}: no success response"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- (b) spec = router

#[test]
fn the_spec_lists_exactly_the_routes_of_the_router() {
    let routes = router_routes(ROUTES_SRC);
    // The scanner itself must find something, or this test would pass on nothing.
    assert!(
        routes.contains(&("GET".into(), "/healthz".into())),
        "scanner found {routes:?}"
    );
    assert!(
        routes.contains(&("PUT".into(), "/v1/ops/catalog/{sku}".into())),
        "{routes:?}"
    );
    let operations = spec_operations(&spec());
    let missing: Vec<_> = routes.difference(&operations).collect();
    let extra: Vec<_> = operations.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes in src/routes/mod.rs but not in the spec: {missing:?}\n\
         operations in the spec but not in the router: {extra:?}"
    );
}

#[test]
fn the_route_scanner_reads_chained_and_wrapped_calls() {
    let source = r#"
        Router::new()
            // .route("/commented", get(x))
            .route("/a/{id}", get(a::show).put(a::upsert))
            .route(
                "/b",
                post(b::create),
            )
            .route("/c", delete(forget(c::remove)))
    "#;
    let found = router_routes(source);
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/a/{id}"),
        ("PUT", "/a/{id}"),
        ("POST", "/b"),
        ("DELETE", "/c"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(found, expected);
}

/// Every operation in the spec is answered by the running app (not the route fallback's
/// 404 nor a 405), with a status the spec documents, as its security says: no key is 401
/// unless the operation is public, the wrong role is 403, an allowed role is not.
/// Every method the spec does not list for a path answers 405.
#[tokio::test]
async fn every_operation_in_the_spec_is_answered_as_documented() {
    let app = TestApp::spawn().await;
    let spec = spec();
    let mut problems = Vec::new();
    let keys = [
        ("ops", app.ops_key.as_str()),
        ("storefront", app.storefront_key.as_str()),
    ];

    for (method, path) in spec_operations(&spec) {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        let concrete = concrete_path(&spec, &path, operation);
        let documented = documented_statuses(operation);
        let accepted_roles = roles(&spec, operation);
        let name = format!("{method} {concrete}");

        let mut answers = vec![(None, call(&app, &method, &concrete, None).await)];
        for (role, key) in keys {
            answers.push((Some(role), call(&app, &method, &concrete, Some(key)).await));
        }
        for (role, (status, body)) in answers {
            let who = role.unwrap_or("no key");
            if is_route_fallback(status, &body) || status == 405 {
                problems.push(format!(
                    "{name} as {who}: the router does not have it ({status} {body})"
                ));
                continue;
            }
            if !documented.contains(&status) {
                problems.push(format!(
                    "{name} as {who}: {status} is not documented ({body})"
                ));
            }
            let allowed = match (&accepted_roles, role) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(accepted), Some(role)) => {
                    accepted.is_empty() || accepted.iter().any(|r| r == role)
                }
            };
            match (allowed, status) {
                (true, 401 | 403) => problems.push(format!(
                    "{name} as {who}: refused with {status} but the spec allows it"
                )),
                (false, 401 | 403) => {}
                (false, _) => problems.push(format!(
                    "{name} as {who}: answered {status} but the spec refuses it"
                )),
                (true, _) => {}
            }
        }
    }

    // Methods the spec does not list for a path are refused with 405.
    let paths: BTreeMap<String, Value> = serde_json::from_value(spec["paths"].clone()).unwrap();
    for (path, item) in &paths {
        let operation = METHODS
            .iter()
            .find_map(|m| item.get(*m))
            .expect("an operation");
        let concrete = concrete_path(&spec, path, operation);
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                continue;
            }
            let (status, body) =
                call(&app, &method.to_uppercase(), &concrete, Some(&app.ops_key)).await;
            if status != 405 || body["error"]["code"] != "method_not_allowed" {
                problems.push(format!(
                    "{} {concrete}: not in the spec, so 405 expected, got {status} {body}",
                    method.to_uppercase()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- (c) error codes

/// The string literals inside `fn status_and_code` in src/error.rs.
fn status_and_code_literals(source: &str) -> BTreeSet<String> {
    let start = source
        .find("fn status_and_code")
        .expect("fn status_and_code in error.rs");
    let body = &source[start..];
    let open = body.find('{').expect("body");
    let mut depth = 0;
    let mut end = open;
    for (i, c) in body[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            end = open + i;
            break;
        }
    }
    body[open..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `code: "..."` literal in a source text (the codes of Invalid and Conflict errors).
fn code_fields(source: &str) -> BTreeSet<String> {
    source
        .match_indices("code: \"")
        .filter_map(|(i, m)| source[i + m.len()..].split('"').next())
        .map(str::to_owned)
        .collect()
}

fn api_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((path.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

fn spec_error_codes(spec: &Value) -> BTreeSet<String> {
    spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect()
}

#[test]
fn every_error_code_of_the_code_is_in_the_spec_and_no_other() {
    let spec = spec();
    let documented = spec_error_codes(&spec);

    let fixed = status_and_code_literals(ERROR_SRC);
    assert!(
        fixed.contains("internal") && fixed.contains("not_found"),
        "scanner found {fixed:?}"
    );
    let mut used: BTreeMap<String, String> = fixed
        .into_iter()
        .map(|c| (c, "error.rs status_and_code".into()))
        .collect();
    let sources = api_sources();
    for (file, text) in &sources {
        for code in code_fields(text) {
            used.entry(code).or_insert_with(|| file.clone());
        }
    }
    assert!(
        used.contains_key("unknown_sku") && used.contains_key("currency_in_use"),
        "{used:?}"
    );
    let undocumented: Vec<_> = used
        .iter()
        .filter(|(c, _)| !documented.contains(*c))
        .collect();
    assert!(
        undocumented.is_empty(),
        "codes the API gives that the spec's ErrorCode lacks: {undocumented:?}"
    );

    // And the enum lists nothing the code never says.
    let stale: Vec<_> = documented
        .iter()
        .filter(|code| {
            !sources
                .iter()
                .any(|(_, text)| text.contains(&format!("\"{code}\"")))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "codes in the spec that nothing in src/ gives: {stale:?}"
    );

    // Each response's narrowed code list stays inside the enum.
    let mut narrowed = Vec::new();
    fn enums_under_code(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(codes) = map
                    .get("code")
                    .and_then(|c| c.get("enum"))
                    .and_then(Value::as_array)
                {
                    out.extend(codes.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                map.values().for_each(|v| enums_under_code(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| enums_under_code(v, out)),
            _ => {}
        }
    }
    enums_under_code(&spec["paths"], &mut narrowed);
    enums_under_code(&spec["components"]["responses"], &mut narrowed);
    assert!(!narrowed.is_empty());
    let unknown: Vec<_> = narrowed
        .iter()
        .filter(|c| !documented.contains(*c))
        .collect();
    assert!(
        unknown.is_empty(),
        "response code lists name codes outside ErrorCode: {unknown:?}"
    );
}

// ---------------------------------------------------------------- schemas vs reality

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
