//! The API's one error type. Each variant maps explicitly to a status and a stable
//! machine `code`; the body is always `{"error": {"code", "message", "field"?}}`.
//! Anything unexpected becomes an opaque 500 carrying the request id, logged in full.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A field is missing or invalid. `code` is specific (missing_field, unknown_sku…).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    /// A query parameter that cannot be used (a cursor, a page size, a missing or
    /// doubled key of a listing): 400, `field` naming the parameter.
    #[error("{message}")]
    BadParameter { field: String, message: String },
    /// A Stripe webhook whose signature is missing, malformed, stale or wrong.
    #[error("{0}")]
    InvalidSignature(String),
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthenticated,
    #[error("this API key's role ({role}) may not use this endpoint")]
    Forbidden { role: &'static str },
    #[error("{0} not found")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("not enough stock for {sku}: {available} available, {requested} requested")]
    InsufficientStock {
        field: String,
        sku: String,
        available: i64,
        requested: i64,
    },
    /// A request that cannot apply to the current state (code names which).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many requests for this API key; retry after {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error(
        "too many requests without a valid API key from this address; retry after {} s",
        retry_after.as_secs().max(1)
    )]
    TooManyWithoutKey { retry_after: Duration },
    #[error("the API has too many requests in flight; retry shortly")]
    Overloaded,
    #[error("the request was not received and answered within {} s; retry (a checkout with the same Idempotency-Key)", after.as_secs())]
    TimedOut { after: Duration },
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "invalid_field",
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn bad_parameter(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadParameter {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        let field = field.into();
        Self::Invalid {
            code: "missing_field",
            message: format!("{field} is required"),
            field,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::BadParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            Self::InvalidSignature(_) => (StatusCode::BAD_REQUEST, "invalid_signature"),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::InsufficientStock { .. } => (StatusCode::CONFLICT, "insufficient_stock"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::RateLimited { .. } | Self::TooManyWithoutKey { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::TimedOut { .. } => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // The pool could not give a connection in time: the database is down or
            // saturated. The client may retry; nothing was written.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// A cart whose amounts do not fit in 64-bit minor units: refused, never charged a
/// wrapped amount.
impl From<cartwright_shared::money::Overflow> for ApiError {
    fn from(_: cartwright_shared::money::Overflow) -> Self {
        Self::Invalid {
            code: "amount_too_large",
            field: "items".into(),
            message: "the checkout's amounts are too large to charge".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut error = json!({ "code": code, "message": self.to_string() });
        match &self {
            Self::Invalid { field, .. } | Self::BadParameter { field, .. } => {
                error["field"] = json!(field);
            }
            Self::InsufficientStock {
                field,
                sku,
                available,
                requested,
            } => {
                error["field"] = json!(field);
                error["sku"] = json!(sku);
                error["available"] = json!(available);
                error["requested"] = json!(requested);
            }
            Self::Internal(source) => {
                let id = request_id::current();
                tracing::error!(error = ?source, request_id = %id, "internal error");
                error["message"] = json!(format!(
                    "internal error; quote request id {id} when reporting it"
                ));
                error["request_id"] = json!(id);
            }
            _ => {}
        }
        let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::RateLimited { retry_after } | Self::TooManyWithoutKey { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Self::Unavailable | Self::Overloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
