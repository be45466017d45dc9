//! Extractors that turn a request into checked values or a clear 4xx: the API key and
//! its role, and a JSON body parsed with the path of any bad field.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use cartwright_shared::api_keys::{Principal, Role};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest JSON body any endpoint accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `axum`'s `Path`, answering a bad path parameter with the JSON error.
pub struct Path<T>(pub T);

/// `axum`'s `Query`, answering a bad query string with the JSON error.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        refuse_encoded_nul("path", parts.uri.path())?;
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        refuse_encoded_nul("query", parts.uri.query().unwrap_or_default())?;
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path and query parameters are percent-decoded into strings that reach SQL (ids, order
/// numbers, filters), where a NUL makes PostgreSQL fail: refused before any handler
/// runs. (A raw NUL byte never gets this far: hyper refuses it.)
fn refuse_encoded_nul(field: &str, raw: &str) -> Result<(), ApiError> {
    if raw
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%00"))
    {
        Err(ApiError::invalid(
            field,
            format!("the {field} contains a NUL character (%00)"),
        ))
    } else {
        Ok(())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::invalid("path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::invalid("query", rejection.body_text())
    }
}

/// Any valid, unrevoked API key.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200);
        let Some(presented) = presented else {
            state.without_key.spend(&parts.extensions)?;
            return Err(ApiError::Unauthenticated);
        };
        state
            .keys
            .authenticate(&state.pool, presented, || {
                state.without_key.spend(&parts.extensions)
            })
            .await?
            .map(Authenticated)
            .ok_or(ApiError::Unauthenticated)
    }
}

/// A key with the storefront role.
pub struct Storefront(pub Principal);

/// A key with the ops role.
pub struct Ops(pub Principal);

async fn with_role(parts: &mut Parts, state: &AppState, role: Role) -> Result<Principal, ApiError> {
    let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
    if principal.role == role {
        Ok(principal)
    } else {
        Err(ApiError::Forbidden {
            role: principal.role.as_str(),
        })
    }
}

impl FromRequestParts<AppState> for Storefront {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        with_role(parts, state, Role::Storefront).await.map(Self)
    }
}

impl FromRequestParts<AppState> for Ops {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        with_role(parts, state, Role::Ops).await.map(Self)
    }
}

/// A JSON body: 415 without a JSON content type, 413 over [`BODY_LIMIT`], 400 when it
/// is not JSON at all, 422 naming the field when it is JSON of the wrong shape.
/// Keeps the parsed document too, for idempotency hashing.
pub struct JsonBody<T> {
    pub value: T,
    pub json: Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_rejected(rejection, BODY_LIMIT))?;
        let json: Value = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
        // serde would read a struct from an array too; every body here is an object.
        if !json.is_object() {
            return Err(ApiError::invalid(
                "body",
                "request body must be a JSON object",
            ));
        }
        refuse_nul(&json)?;
        let value = serde_path_to_error::deserialize(&json)
            .map_err(|err| data_error(&err.path().to_string(), &err.inner().to_string()))?;
        Ok(Self { value, json })
    }
}

/// A body that could not be read: over the route's `limit` (set with `DefaultBodyLimit`,
/// enforced while buffering, before any parsing), or cut off.
pub fn body_rejected(rejection: BytesRejection, limit: usize) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::PayloadTooLarge { limit }
        }
        other => ApiError::MalformedJson(other.body_text()),
    }
}

/// PostgreSQL's text and jsonb cannot hold U+0000, so a NUL anywhere in a JSON document
/// (a value or a key, however deep) is refused up front, naming where it is, rather than
/// failing half-way through the handler's writes.
pub fn refuse_nul(json: &Value) -> Result<(), ApiError> {
    match first_char(json, |c| c == '\0') {
        None => Ok(()),
        Some((field, _)) => Err(ApiError::invalid(
            field.clone(),
            format!("{field} contains a NUL character (U+0000)"),
        )),
    }
}

/// Where the first character for which `bad` holds is in `json` (a value or a key,
/// however deep), as a field path (`customer.name`, `items[1].sku`; `body` for the
/// document itself), with that character. A key's own bad characters are escaped in the
/// path.
pub fn first_char(json: &Value, bad: fn(char) -> bool) -> Option<(String, char)> {
    fn walk(value: &Value, path: &mut String, bad: fn(char) -> bool) -> Option<char> {
        match value {
            Value::String(s) => s.chars().find(|c| bad(*c)),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path, bad);
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().find_map(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                for c in key.chars() {
                    if bad(c) {
                        path.extend(c.escape_debug());
                    } else {
                        path.push(c);
                    }
                }
                let found = key
                    .chars()
                    .find(|c| bad(*c))
                    .or_else(|| walk(item, path, bad));
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            _ => None,
        }
    }
    let mut path = String::new();
    let found = walk(json, &mut path, bad)?;
    if path.is_empty() {
        path.push_str("body");
    }
    Some((path, found))
}

/// serde names a missing field only in its message (an unknown one is already in the
/// path); put it into the path so `field` always points at the culprit.
fn data_error(path: &str, message: &str) -> ApiError {
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    };
    let code = if message.starts_with("missing field") {
        "missing_field"
    } else {
        "invalid_field"
    };
    ApiError::Invalid {
        code,
        message: format!("{field}: {message}"),
        field,
    }
}
