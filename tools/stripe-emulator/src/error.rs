//! Stripe-shaped errors: `{"error": {"type", "code", "decline_code", "message", "param", …}}`
//! with the HTTP status Stripe uses for each kind.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The `type` of a Stripe error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Api,
    Card,
    Idempotency,
    InvalidRequest,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api_error",
            Self::Card => "card_error",
            Self::Idempotency => "idempotency_error",
            Self::InvalidRequest => "invalid_request_error",
        }
    }
}

/// An error answer: the HTTP status and the `error` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    details: Box<Details>,
}

#[derive(Debug, Clone)]
struct Details {
    kind: ErrorType,
    code: Option<String>,
    decline_code: Option<String>,
    message: String,
    param: Option<String>,
    /// Extra members of the error object (`payment_intent`, `charge`, `payment_method`).
    extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorType, message: impl Into<String>) -> Self {
        let details = Details {
            kind,
            code: None,
            decline_code: None,
            message: message.into(),
            param: None,
            extra: Map::new(),
        };
        Self {
            status,
            details: Box::new(details),
        }
    }

    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, message)
    }

    pub fn code(mut self, code: &str) -> Self {
        self.details.code = Some(code.to_owned());
        self
    }

    pub fn param(mut self, param: &str) -> Self {
        self.details.param = Some(param.to_owned());
        self
    }

    pub fn decline_code(mut self, decline_code: &str) -> Self {
        self.details.decline_code = Some(decline_code.to_owned());
        self
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.details.extra.insert(key.to_owned(), value);
        self
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid(format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::invalid(format!("Invalid integer: {value}"))
            .code("parameter_invalid_integer")
            .param(param)
    }

    pub fn invalid_value(param: &str, allowed: &[&str]) -> Self {
        Self::invalid(format!(
            "Invalid {param}: must be one of {}",
            allowed.join(", ")
        ))
        .param(param)
    }

    /// An id named in the request body that does not exist (400, like Stripe).
    pub fn no_such_param(resource: &str, id: &str, param: &str) -> Self {
        Self::invalid(format!("No such {resource}: '{id}'"))
            .code("resource_missing")
            .param(param)
    }

    /// An id in the URL path that does not exist (404).
    pub fn no_such_path(resource: &str, id: &str) -> Self {
        let mut err = Self::no_such_param(resource, id, "id");
        err.status = StatusCode::NOT_FOUND;
        err
    }

    pub fn unexpected_state(message: impl Into<String>) -> Self {
        Self::invalid(message).code("payment_intent_unexpected_state")
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorType::InvalidRequest, message)
    }

    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            "Sorry, something went wrong. We've already been notified of the problem. \
             (This error was injected by the Stripe emulator.)",
        )
    }

    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::InvalidRequest,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        )
        .code("rate_limit")
    }

    /// The error object alone, as it appears in `last_payment_error`.
    pub fn to_object(&self) -> Value {
        let d = &self.details;
        let mut obj = Map::new();
        obj.insert("type".into(), json!(d.kind.as_str()));
        obj.insert("message".into(), json!(d.message));
        if let Some(code) = &d.code {
            obj.insert("code".into(), json!(code));
            obj.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{code}")),
            );
        }
        if let Some(decline_code) = &d.decline_code {
            obj.insert("decline_code".into(), json!(decline_code));
        }
        if let Some(param) = &d.param {
            obj.insert("param".into(), json!(param));
        }
        obj.extend(d.extra.clone());
        Value::Object(obj)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.to_object() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_error_object_has_stripe_members() {
        let err = ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            ErrorType::Card,
            "Your card was declined.",
        )
        .code("card_declined")
        .decline_code("generic_decline")
        .with("charge", json!("ch_1"));
        let obj = err.to_object();
        assert_eq!(obj["type"], "card_error");
        assert_eq!(obj["code"], "card_declined");
        assert_eq!(obj["decline_code"], "generic_decline");
        assert_eq!(obj["charge"], "ch_1");
        assert!(obj.get("param").is_none());
    }
}
