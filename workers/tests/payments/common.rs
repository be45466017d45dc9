//! One test's world: the API, the relay, the payment and stripe-events workers on a
//! broker prefix of their own, and a Stripe emulator whose webhooks reach the API.

use std::time::Duration;

use cartwright_shared::config::StripeConfig;
use cartwright_shared::outbox;
use cartwright_testkit::broker::{QueueEnv, SHARED_BROKER, eventually};
use cartwright_workers::payments::Payments;
use cartwright_workers::payments::stripe::Stripe;
use cartwright_workers::stripe_events::{self, StripeEvents};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "whsec_cartwright_test";
pub const STRIPE_KEY: &str = "sk_test_cartwright";
pub const WAIT: Duration = Duration::from_secs(90);

pub struct World {
    pub env: QueueEnv,
    pub emulator: stripe_emulator::Handle,
    pub http: reqwest::Client,
}

impl World {
    /// Everything running: relay, payments and stripe-events workers.
    pub async fn start() -> Self {
        let mut world = Self::idle().await;
        world.run_workers();
        world
    }

    /// The relay, the payment worker, the stripe-events worker and its parked events'
    /// sweep, as `cartwright-workers all` runs them.
    pub fn run_workers(&mut self) {
        self.env.spawn_relay();
        self.env.spawn_handler(Payments {
            stripe: self.stripe(),
        });
        self.env.spawn_handler(StripeEvents {
            stripe: self.stripe(),
        });
        self.env.spawn_task(stripe_events::sweep_parked);
    }

    /// The API, the emulator and the database; no worker runs yet.
    pub async fn idle() -> Self {
        Self::idle_with(true).await
    }

    /// Everything running, but the emulator sends no webhooks: the test sends its own.
    pub async fn without_emulator_webhooks() -> Self {
        let mut world = Self::idle_with(false).await;
        world.run_workers();
        world
    }

    async fn idle_with(webhooks: bool) -> Self {
        // RUST_LOG=cartwright_workers=debug shows what the workers did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        // TEST_AMQP_URL: another broker than the shared one (e.g. a private node).
        let broker = std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| SHARED_BROKER.to_owned());
        let env = QueueEnv::with_vars(
            &broker,
            &[
                (
                    "STRIPE_WEBHOOK_SECRETS",
                    &format!("whsec_old_unused,{WEBHOOK_SECRET}"),
                ),
                // Events that outrun the payment job wait a second, not five.
                ("STRIPE_EVENT_PARK_SECS", "1"),
            ],
        )
        .await;
        let mut config = stripe_emulator::Config::for_tests();
        if webhooks {
            config = config.with_webhook(env.app.url("/v1/webhooks/stripe"), WEBHOOK_SECRET);
        }
        let emulator = stripe_emulator::spawn(config)
            .await
            .expect("emulator starts");
        Self {
            env,
            emulator,
            http: reqwest::Client::new(),
        }
    }

    pub fn stripe_config(&self) -> StripeConfig {
        StripeConfig {
            secret_key: SecretString::from(STRIPE_KEY),
            api_base: self.emulator.base_url.clone(),
            webhook_secrets: vec![SecretString::from(WEBHOOK_SECRET)],
            timeout: Duration::from_secs(5),
        }
    }

    pub fn stripe(&self) -> Stripe {
        Stripe::new(&self.stripe_config()).expect("Stripe client")
    }

    /// Submits the two-store demo checkout paying with `payment_method`; returns its id
    /// and its order numbers.
    pub async fn submit(&self, payment_method: &str) -> (String, Vec<String>) {
        let mut body = cartwright_testkit::demo_checkout();
        body["payment_method"] = json!(payment_method);
        let key = format!("k-{}", cartwright_shared::ids::new_secret(8));
        let response = self.env.app.submit(&key, &body).await;
        assert_eq!(response.status(), 202);
        let checkout: Value = response.json().await.expect("JSON");
        let orders = checkout["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["number"].as_str().expect("number").to_owned())
            .collect();
        (checkout["id"].as_str().expect("id").to_owned(), orders)
    }

    /// Locks the checkout's row until the transaction ends: a payment job's Stripe call
    /// goes through, and its commit waits behind the lock.
    pub async fn hold_checkout(&self, id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut tx = self.env.app.pool.begin().await.expect("begin");
        sqlx::query("SELECT id FROM checkouts WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect("the checkout's row lock");
        tx
    }

    pub async fn checkout(&self, id: &str) -> Value {
        let app = &self.env.app;
        app.client
            .get(app.url(&format!("/v1/checkouts/{id}")))
            .bearer_auth(&app.ops_key)
            .send()
            .await
            .expect("GET checkout")
            .json()
            .await
            .expect("JSON")
    }

    pub async fn status(&self, id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM checkouts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.env.app.pool)
            .await
            .expect("status")
    }

    pub async fn wait_for(&self, id: &str, status: &str) {
        eventually(WAIT, &format!("checkout {id} to be {status}"), || async {
            self.status(id).await == status
        })
        .await;
    }

    /// What the placement side would do: the order's new status and its event.
    pub async fn order_outcome(&self, checkout_id: &str, number: &str, placed: bool) {
        let (status, event) = if placed {
            ("placed", "order.placed")
        } else {
            ("failed", "order.failed")
        };
        let mut tx = self.env.app.pool.begin().await.expect("begin");
        let store: String = sqlx::query_scalar(
            "UPDATE orders SET status = $2 WHERE number = $1 RETURNING store_id",
        )
        .bind(number)
        .bind(status)
        .fetch_one(&mut *tx)
        .await
        .expect("order");
        let payload = if placed {
            json!({"checkout_id": checkout_id, "order_number": number, "store_id": store,
                   "store_order_number": format!("R-{number}")})
        } else {
            json!({"checkout_id": checkout_id, "order_number": number, "store_id": store,
                   "reason": "out_of_stock"})
        };
        outbox::enqueue(&mut tx, event, checkout_id, &payload)
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
    }

    /// A checkout submitted with a card that needs 3-D Secure, waiting for the
    /// customer: its id, its order numbers and its PaymentIntent.
    pub async fn waiting_for_3ds(&self) -> (String, Vec<String>, String) {
        let (id, orders) = self.submit("pm_card_authenticationRequired").await;
        self.wait_for(&id, "requires_action").await;
        let pi = self.payment_intent_id(&id).await;
        (id, orders, pi)
    }

    /// The customer passes 3-D Secure at the emulator.
    pub async fn pass_3ds(&self, pi: &str) {
        self.control(
            &format!("/_emulator/payment_intents/{pi}/3ds"),
            json!({"outcome": "succeed"}),
        )
        .await;
    }

    pub async fn payment_intent_id(&self, checkout_id: &str) -> String {
        sqlx::query_scalar("SELECT payment_intent_id FROM checkouts WHERE id = $1")
            .bind(checkout_id)
            .fetch_one(&self.env.app.pool)
            .await
            .expect("payment intent id")
    }

    pub async fn order_total(&self, number: &str) -> i64 {
        sqlx::query_scalar("SELECT total FROM orders WHERE number = $1")
            .bind(number)
            .fetch_one(&self.env.app.pool)
            .await
            .expect("order total")
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.emulator.url(path))
            .json(&body)
            .send()
            .await
            .expect("control call");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    /// A Stripe client of the test's own, for calls Cartwright did not make: what an
    /// earlier run of a job would have done, under a key Stripe has since forgotten.
    pub fn outside_client(&self) -> stripe::Client {
        stripe::ClientBuilder::new(STRIPE_KEY)
            .url(self.emulator.base_url.clone())
            .build()
            .expect("Stripe client")
    }

    /// Stripe's refunds of a PaymentIntent (`GET /v1/refunds?payment_intent=`).
    pub async fn refunds_at_stripe(&self, payment_intent: &str) -> Vec<stripe_core::Refund> {
        let list = stripe_core::refund::ListRefund::new()
            .payment_intent(payment_intent)
            .limit(100)
            .send(&self.outside_client())
            .await
            .expect("list refunds");
        assert!(!list.has_more);
        list.data
    }

    pub async fn ledger(&self) -> Value {
        self.http
            .get(self.emulator.url("/_emulator/ledger"))
            .send()
            .await
            .expect("ledger")
            .json()
            .await
            .expect("JSON")
    }

    /// `POST /v1/webhooks/stripe` with a body and a Stripe-Signature header (if any).
    pub async fn post_webhook(&self, body: &str, signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.env.app.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.send().await.expect("webhook POST")
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        self.env.scalar(sql).await
    }
}

/// A `Stripe-Signature` header for `body` signed at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
