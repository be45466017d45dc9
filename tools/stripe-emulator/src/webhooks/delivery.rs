//! Sends events to webhook endpoints in the background, signed, retrying non-2xx answers
//! and timeouts with exponential backoff up to the configured number of attempts.
//! Deliveries are independent of each other, so (as with Stripe) events may arrive out of order.

use std::sync::{Arc, Mutex, PoisonError};

use crate::config::DeliveryPolicy;
use crate::ids;
use crate::store::{DeliveryAttempt, Outgoing, Store};
use crate::webhooks::signing::signature_header;

#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    policy: DeliveryPolicy,
    store: Arc<Mutex<Store>>,
}

impl Deliverer {
    pub fn new(policy: DeliveryPolicy, store: Arc<Mutex<Store>>) -> Self {
        Self {
            client: reqwest::Client::new(),
            policy,
            store,
        }
    }

    /// Starts delivering `job` on the current Tokio runtime.
    pub fn start(&self, job: Outgoing) {
        let this = self.clone();
        tokio::spawn(async move { this.deliver(job).await });
    }

    async fn deliver(self, job: Outgoing) {
        for attempt in 1..=self.policy.max_attempts {
            let signature = signature_header(&job.payload, &job.secret, ids::now());
            let result = self
                .client
                .post(&job.url)
                .header("content-type", "application/json; charset=utf-8")
                .header("stripe-signature", signature)
                .header(
                    "user-agent",
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                )
                .body(job.payload.clone())
                .timeout(self.policy.timeout)
                .send()
                .await;
            let (status, error) = match result {
                Ok(response) => (Some(response.status().as_u16()), None),
                Err(err) => (None, Some(err.to_string())),
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            tracing::info!(
                event = %job.event_id, event_type = %job.event_type, url = %job.url,
                attempt, ?status, ?error, delivered, "webhook delivery"
            );
            self.store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record_delivery(DeliveryAttempt {
                    event_id: job.event_id.clone(),
                    event_type: job.event_type.clone(),
                    endpoint_id: job.endpoint_id.clone(),
                    attempt,
                    status,
                    error,
                    delivered,
                    at: ids::now(),
                });
            if delivered {
                return;
            }
            if attempt < self.policy.max_attempts {
                tokio::time::sleep(self.policy.backoff(attempt)).await;
            }
        }
        tracing::warn!(event = %job.event_id, url = %job.url, "webhook delivery abandoned after all attempts");
    }
}
