//! The middleware every `/v1` request goes through, in Stripe's order: authentication,
//! injected delays and pre-execution faults, idempotency (replay or execute-and-save), the
//! handler, then "lost response" faults that hide a response already saved.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::auth;
use crate::error::{ApiError, ErrorType};
use crate::faults::{FaultKind, Phase};
use crate::form::Params;
use crate::idempotency::{Begin, Saved};
use crate::ids;
use crate::store::Origin;

const BODY_LIMIT: usize = 1 << 20;

pub async fn v1(State(app): State<App>, req: Request, next: Next) -> Response {
    let request_id = ids::with_len("req", 14);
    let mut response = handle(&app, &request_id, req, next).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(app.api_version()) {
        headers.insert("stripe-version", value);
    }
    response
}

async fn handle(app: &App, request_id: &str, mut req: Request, next: Next) -> Response {
    let api_key = match auth::api_key(req.headers()) {
        Ok(key) => key,
        Err(err) => return err.into_response(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let delay = app.faults().delay(&path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let injected = app.faults().take(Phase::Before, method.as_str(), &path);
    if let Some(kind) = injected {
        return fault_response(app, kind, &method, &path);
    }
    let key = (method == Method::POST)
        .then(|| {
            req.headers()
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .flatten()
        .filter(|k| !k.is_empty());
    req.extensions_mut().insert(Origin {
        request_id: Some(request_id.to_owned()),
        idempotency_key: key.clone(),
    });
    let response = match key {
        None => next.run(req).await,
        Some(key) => match idempotent(app, &api_key, &key, request_id, req, next).await {
            Ok(response) => response,
            Err(replayed) => return replayed,
        },
    };
    let lost = response.status().is_success()
        && app
            .faults()
            .take(Phase::After, method.as_str(), &path)
            .is_some();
    if lost {
        return fault_response(app, FaultKind::LostResponse, &method, &path);
    }
    response
}

/// Executes and saves, or answers from the store (`Err`: a replay or an idempotency error).
async fn idempotent(
    app: &App,
    api_key: &str,
    key: &str,
    request_id: &str,
    req: Request,
    next: Next,
) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::invalid("The request body is too large.").into_response())?;
    let params = Params::parse(&bytes)
        .map(|p| p.fingerprint())
        .unwrap_or_else(|_| hex::encode(&bytes));
    let fingerprint = format!("{} {} {params}", parts.method, parts.uri.path());
    match app.with_store(|s| s.idempotency.begin(api_key, key, &fingerprint)) {
        Begin::Execute => {}
        Begin::Replay(saved) => {
            app.with_store(|s| s.counters.idempotent_replays += 1);
            tracing::info!(%key, original = %saved.request_id, "idempotent replay");
            return Err(replay(saved));
        }
        Begin::Mismatch => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::Idempotency,
                format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first \
                     used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
            )
            .into_response());
        }
        Begin::InFlight => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorType::Idempotency,
                "There is currently another in-progress request using this Idempotent Key (that probably \
                 means you submitted twice, and the other request is still going through). Please try again later.",
            )
            .code("idempotency_key_in_use")
            .into_response());
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let keep = parts.status.is_success() || parts.status == StatusCode::PAYMENT_REQUIRED;
    let saved = keep.then(|| Saved {
        status: parts.status,
        body: body.clone(),
        request_id: request_id.to_owned(),
    });
    app.with_store(|s| s.idempotency.finish(api_key, key, saved));
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(saved: Saved) -> Response {
    let Saved {
        status,
        body,
        request_id,
    } = saved;
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("original-request", value);
    }
    response
}

fn fault_response(app: &App, kind: FaultKind, method: &Method, path: &str) -> Response {
    app.with_store(|s| s.counters.faults_injected += 1);
    tracing::info!(?kind, %method, %path, "injected fault");
    match kind {
        FaultKind::RateLimit => ApiError::rate_limited().into_response(),
        FaultKind::ServerError | FaultKind::LostResponse => {
            ApiError::server_error().into_response()
        }
    }
}
