//! Starting an emulator, a client pointed at it, and the control API.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;
use stripe::{ApiErrors, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_core::PaymentIntentCaptureMethod;
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_emulator::{Config, Handle};
use stripe_types::Currency;

pub const KEY: &str = "sk_test_emulator";

pub struct Emulator {
    pub handle: Handle,
    pub client: Client,
    pub http: reqwest::Client,
}

pub async fn start() -> Emulator {
    start_with(Config::for_tests()).await
}

pub async fn start_with(config: Config) -> Emulator {
    let handle = stripe_emulator::spawn(config)
        .await
        .expect("emulator starts");
    let client = ClientBuilder::new(KEY)
        .url(handle.base_url.clone())
        .build()
        .expect("client builds");
    Emulator {
        handle,
        client,
        http: reqwest::Client::new(),
    }
}

impl Emulator {
    /// `POST` a JSON body to the control API.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.handle.url(path))
            .json(&body)
            .send()
            .await
            .expect("control call");
        assert!(
            response.status().is_success(),
            "{path} answered {}",
            response.status()
        );
        response.json().await.expect("control JSON")
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.handle.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("GET succeeds");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// A form-encoded `POST` to the Stripe API, ready for extra headers.
    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http
            .post(self.handle.url(path))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(pairs).expect("encodable"))
    }

    pub async fn ledger(&self) -> Value {
        self.get("/_emulator/ledger").await.1
    }
}

pub fn idempotent(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).expect("valid key"))
}

/// A manual-capture PaymentIntent confirmed at creation with `payment_method`.
pub fn authorize(amount: i64, payment_method: &str) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::USD)
        .capture_method(PaymentIntentCaptureMethod::Manual)
        .confirm(true)
        .payment_method(payment_method)
        .metadata(HashMap::from([(
            "checkout_id".to_owned(),
            "chk_1".to_owned(),
        )]))
}

/// The Stripe error and HTTP status of a failed call.
pub fn stripe_error<T: std::fmt::Debug>(result: Result<T, StripeError>) -> (ApiErrors, u16) {
    match result {
        Err(StripeError::Stripe(errors, status)) => (*errors, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}
