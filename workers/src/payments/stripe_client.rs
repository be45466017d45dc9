//! async-stripe's requests over a pool of kept-alive connections.
//!
//! async-stripe (1.0.0-rc.10) builds its hyper client with `pool_max_idle_per_host(0)`
//! and offers no way to change it, so every call opened a new connection and, against
//! api.stripe.com, paid a TLS handshake: one per authorization, capture, cancel, refund
//! and PaymentIntent read. In the whole-pipeline bench that was a connect and a close
//! per checkout in the workers and the emulator (BENCHMARKS.md, part 11). The crate lets
//! any type that implements `StripeClient` send its requests; this one sends them the
//! way its own client does (the same headers, TLS through rustls with ring and the
//! webpki roots, the request's strategy and timeout, Stripe's error body as
//! `StripeError::Stripe`), and keeps the connections.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use stripe::{RequestStrategy, StripeError};
use stripe_client_core::{
    CustomizedStripeRequest, Outcome, SharedConfigBuilder, StripeClient, StripeMethod,
};

/// An idle connection is closed after this long: well under the idle timeouts of load
/// balancers in front of HTTP APIs (60 s is common), so a request rarely meets a
/// connection the other side has just closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

const USER_AGENT_VALUE: &str = concat!("Cartwright/", env!("CARGO_PKG_VERSION"));

/// A Stripe client with a connection pool; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PooledClient {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https://api.stripe.com/` or the emulator's base, always ending in `/`.
    api_base: String,
    authorization: HeaderValue,
    stripe_version: HeaderValue,
    timeout: Option<Duration>,
}

impl PooledClient {
    pub fn new(
        secret_key: &str,
        api_base: &str,
        timeout: Option<Duration>,
    ) -> Result<Self, StripeError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {secret_key}"))
            .map_err(|_| StripeError::ConfigError("the secret key is not a header value".into()))?;
        authorization.set_sensitive(true);
        // The API version async-stripe's types were generated for.
        let version = SharedConfigBuilder::new(secret_key).stripe_version;
        let stripe_version = HeaderValue::from_str(version.as_str())
            .map_err(|_| StripeError::ConfigError("Stripe API version".into()))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(connector);
        // A base that is no URL is a configuration error at start, not a failed call
        // retried forever.
        let parsed: hyper::Uri = api_base
            .parse()
            .map_err(|e| StripeError::ConfigError(format!("STRIPE_API_BASE {api_base:?}: {e}")))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.authority().is_none() {
            return Err(StripeError::ConfigError(format!(
                "STRIPE_API_BASE {api_base:?} is not an http(s) URL"
            )));
        }
        let mut api_base = api_base.to_owned();
        if !api_base.ends_with('/') {
            api_base.push('/');
        }
        Ok(Self {
            http,
            api_base,
            authorization,
            stripe_version,
            timeout,
        })
    }

    fn request(
        &self,
        request: &CustomizedRequest,
        strategy: &RequestStrategy,
    ) -> Result<Request<Full<Bytes>>, StripeError> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(&request.uri)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header(
                HeaderName::from_static("stripe-version"),
                self.stripe_version.clone(),
            );
        if let Some(key) = strategy.get_key() {
            builder = builder.header(HeaderName::from_static("idempotency-key"), key.as_str());
        }
        if request.body.is_some() {
            builder = builder.header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        builder
            .body(Full::new(request.body.clone().unwrap_or_default()))
            .map_err(|e| StripeError::ClientError(e.to_string()))
    }

    /// One attempt: the status, Stripe's `Stripe-Should-Retry` and the body.
    async fn attempt(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Option<Duration>,
    ) -> Result<(u16, Option<bool>, Bytes), StripeError> {
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| StripeError::ClientError(e.to_string()))?;
            let status = response.status().as_u16();
            let should_retry = response
                .headers()
                .get("stripe-should-retry")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| StripeError::ClientError(e.to_string()))?
                .to_bytes();
            Ok((status, should_retry, body))
        };
        match timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or(Err(StripeError::Timeout)),
            None => exchange.await,
        }
    }
}

/// What one request is, whatever the attempt.
struct CustomizedRequest {
    method: Method,
    uri: String,
    body: Option<Bytes>,
}

/// Stripe's error body: `{"error": {...}}`.
#[derive(miniserde::Deserialize)]
struct ErrorBody {
    error: stripe::ApiErrors,
}

fn stripe_error(status: u16, body: &[u8]) -> StripeError {
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| miniserde::json::from_str::<ErrorBody>(text).ok())
        .map(|body| StripeError::Stripe(Box::new(body.error), status))
        .unwrap_or_else(|| {
            StripeError::JSONDeserialize(format!("an HTTP {status} answer without Stripe's error"))
        })
}

impl StripeClient for PooledClient {
    type Err = StripeError;

    async fn execute(&self, customized: CustomizedStripeRequest) -> Result<Bytes, StripeError> {
        let (built, overrides) = customized.into_pieces();
        if overrides.account_id.is_some() {
            return Err(StripeError::ConfigError(
                "Connect accounts are not used by Cartwright".into(),
            ));
        }
        let mut uri = format!("{}v1{}", self.api_base, built.path);
        if let Some(query) = &built.query {
            uri.push('?');
            uri.push_str(query);
        }
        let request = CustomizedRequest {
            method: match built.method {
                StripeMethod::Get => Method::GET,
                StripeMethod::Post => Method::POST,
                StripeMethod::Delete => Method::DELETE,
            },
            uri,
            body: built.body.map(Bytes::from),
        };
        let strategy = overrides.request_strategy.unwrap_or(RequestStrategy::Once);
        let timeout = overrides.timeout.or(self.timeout);
        let mut tries = 0;
        let mut last: Option<(u16, Option<bool>)> = None;
        let mut last_error = StripeError::ClientError("no attempt was made".into());
        loop {
            match strategy.test(last.map(|l| l.0), last.and_then(|l| l.1), tries) {
                Outcome::Stop => return Err(last_error),
                Outcome::Continue(wait) => {
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            tries += 1;
            match self
                .attempt(self.request(&request, &strategy)?, timeout)
                .await
            {
                Ok((status, _, body)) if (200..300).contains(&status) => return Ok(body),
                Ok((status, should_retry, body)) => {
                    last = Some((status, should_retry));
                    last_error = stripe_error(status, &body);
                }
                Err(err) => last_error = err,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_error_bodies_become_stripe_errors() {
        let body = br#"{"error": {"type": "card_error", "code": "card_declined",
                        "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}"#;
        match stripe_error(402, body) {
            StripeError::Stripe(error, 402) => {
                assert_eq!(
                    error.code.map(|c| c.as_str().to_owned()).as_deref(),
                    Some("card_declined")
                );
                assert_eq!(error.decline_code.as_deref(), Some("insufficient_funds"));
            }
            other => panic!("expected a Stripe error, got {other:?}"),
        }
        assert!(matches!(
            stripe_error(502, b"<html>bad gateway</html>"),
            StripeError::JSONDeserialize(_)
        ));
    }

    #[test]
    fn an_api_base_that_is_no_url_is_refused_at_start() {
        for base in ["", "api.stripe.com", "ftp://api.stripe.com/", "http://"] {
            assert!(
                matches!(
                    PooledClient::new("sk_test_x", base, None),
                    Err(StripeError::ConfigError(_))
                ),
                "{base:?}"
            );
        }
        assert!(PooledClient::new("sk_test_x", "https://api.stripe.com", None).is_ok());
    }
}
