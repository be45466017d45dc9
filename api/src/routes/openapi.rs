//! `GET /openapi.json`: the OpenAPI 3.1 description of this API, compiled in from
//! `api/openapi.json` (the file is the source of truth; `tests/openapi.rs` checks that it
//! and the router agree). No key needed.

use axum::http::header;
use axum::response::IntoResponse;

const SPEC: &str = include_str!("../../openapi.json");

pub async fn spec() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], SPEC)
}
