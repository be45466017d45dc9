//! The ops console: server-rendered HTML under `/ops` (minijinja templates in
//! `api/templates/`, compiled into the binary), plain forms that work without
//! JavaScript. It is a second face of the ops API: the same queue functions, the same
//! actor (`key:<principal>`) in the audit trail. Its routes are HTML, not part of the
//! JSON API, so they are not in api/openapi.json.

mod form;
mod pages;
pub mod session;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::Serialize;

use crate::state::AppState;

/// The console's routes (merged into the app's router).
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ops", get(pages::home))
        .route("/ops/static/console.css", get(stylesheet))
        .route("/ops/static/console.js", get(script))
        .route(
            "/ops/sign-in",
            // Every sign-in costs a key look-up: it spends from the address's allowance
            // of requests without a valid key.
            get(pages::sign_in_form).post(pages::sign_in.layer(
                axum::middleware::from_fn_with_state(state.clone(), crate::address_limit::limit),
            )),
        )
        .route("/ops/sign-out", post(pages::sign_out))
        .route("/ops/queue", get(pages::queue))
        .route("/ops/orders/{number}", get(pages::order))
        .route("/ops/orders/{number}/{action}", post(pages::order_action))
        .route("/ops/dead-letters", get(pages::dead_letters))
        .route(
            "/ops/dead-letters/{id}/{action}",
            post(pages::dead_letter_action),
        )
        .route("/ops/stores", get(pages::stores))
        .route("/ops/stores/{id}", post(pages::store_update))
        .route("/ops/skus/{sku}/stock", post(pages::restock))
        .route("/ops/stats", get(pages::stats))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            strict_transport,
        ))
}

/// Browsers that reached the console over HTTPS keep to HTTPS for a year; not sent when
/// the deployment serves it over plain HTTP.
async fn strict_transport(State(state): State<AppState>, mut response: Response) -> Response {
    if !state.config.placement.console_plain_http {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/console.css"),
    )
}

async fn script() -> impl IntoResponse {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/console.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("sign_in.html", include_str!("../../templates/sign_in.html")),
    ("queue.html", include_str!("../../templates/queue.html")),
    ("order.html", include_str!("../../templates/order.html")),
    (
        "dead_letters.html",
        include_str!("../../templates/dead_letters.html"),
    ),
    ("stores.html", include_str!("../../templates/stores.html")),
    ("stats.html", include_str!("../../templates/stats.html")),
    ("error.html", include_str!("../../templates/error.html")),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        // .html templates are auto-escaped (minijinja's default by file extension).
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

/// Renders a template into a response with the console's headers.
pub fn render<S: Serialize>(status: StatusCode, name: &str, context: S) -> Response {
    let body = templates()
        .get_template(name)
        .and_then(|t| t.render(context));
    match body {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            let headers = response.headers_mut();
            // Pages carry CSRF tokens and customer addresses: never cached, never framed.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
            // Styles and script are files of their own (/ops/static/), so no inline
            // script or style runs: an injected tag or attribute does nothing.
            headers.insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = ?err, template = name, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error rendering the page",
            )
                .into_response()
        }
    }
}

/// A page that only says what went wrong.
pub fn error_page(
    status: StatusCode,
    session: Option<&session::Session>,
    message: &str,
) -> Response {
    render(
        status,
        "error.html",
        minijinja::context! {
            title => "Error",
            user => session.map(|s| s.principal.clone()),
            csrf => session.map(|s| s.csrf.clone()),
            error => message,
        },
    )
}
