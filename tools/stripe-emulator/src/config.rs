//! Emulator configuration: where to listen, what to report, where to send webhooks.

use std::net::SocketAddr;
use std::time::Duration;

/// The API version async-stripe 1.0.0-rc.10 is generated against; events report it by default.
pub const DEFAULT_API_VERSION: &str = "2026-09-30.endive";

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The `api_version` reported in events and the `Stripe-Version` response header.
    pub api_version: String,
    /// Base URL used in `next_action` links; defaults to `http://{bound address}`.
    pub public_url: Option<String>,
    /// A webhook endpoint registered at start (enabled for every event type).
    pub webhook: Option<WebhookTarget>,
    /// Retry policy for webhook deliveries.
    pub delivery: DeliveryPolicy,
}

/// A webhook endpoint given on the command line or in a test.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    /// The signing secret (`whsec_…`) the receiver verifies `Stripe-Signature` with.
    pub secret: String,
    /// The event types it receives (`enabled_events`); `*` is every type.
    pub events: Vec<String>,
}

/// How webhook deliveries are retried: `max_attempts` tries in all, waiting
/// `initial_backoff`, then twice as long each time, never more than `max_backoff`.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Per-attempt timeout; a timeout counts as a failed attempt.
    pub timeout: Duration,
}

impl DeliveryPolicy {
    /// The wait before attempt number `attempt + 1`, where `attempt` starts at 1.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 12111)),
            api_version: DEFAULT_API_VERSION.to_owned(),
            public_url: None,
            webhook: None,
            delivery: DeliveryPolicy::default(),
        }
    }
}

impl Config {
    /// A configuration for in-process tests: a free port on 127.0.0.1 and fast retries.
    pub fn for_tests() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            delivery: DeliveryPolicy {
                max_attempts: 5,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                timeout: Duration::from_secs(2),
            },
            ..Self::default()
        }
    }

    /// The same configuration with a webhook endpoint registered at start.
    pub fn with_webhook(mut self, url: impl Into<String>, secret: impl Into<String>) -> Self {
        self.webhook = Some(WebhookTarget {
            url: url.into(),
            secret: secret.into(),
            events: vec!["*".to_owned()],
        });
        self
    }

    /// The configured endpoint receives only these event types (`enabled_events`).
    pub fn with_webhook_events(mut self, events: &[&str]) -> Self {
        if let Some(target) = &mut self.webhook {
            target.events = events.iter().map(|e| (*e).to_owned()).collect();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = DeliveryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(3), Duration::from_millis(350));
        assert_eq!(policy.backoff(40), Duration::from_millis(350));
    }
}
