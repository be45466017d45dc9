//! The OpenAPI description (`api/openapi.json`, served at `/openapi.json`) and the code
//! agree: the router has exactly the spec's paths and methods, each answers as the spec's
//! security and responses say, every error code the code can give is in the spec's enum,
//! and real requests and responses fit the spec's schemas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cartwright_testkit::TestApp;
use reqwest::Method;
use serde_json::Value;

#[path = "openapi/schema.rs"]
mod schema;

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
