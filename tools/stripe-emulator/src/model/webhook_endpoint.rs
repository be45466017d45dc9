//! The WebhookEndpoint object.

use serde_json::{Value, json};

use super::{Metadata, metadata_json};

#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// Event types to send; `*` means all.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub created: i64,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled_events
            .iter()
            .any(|e| e == "*" || e == event_type)
    }

    /// Stripe's JSON; the `secret` is shown only when the endpoint is created, as Stripe does.
    pub fn to_json(&self, with_secret: bool) -> Value {
        let mut value = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": null,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "status": "enabled",
            "url": self.url,
        });
        if with_secret {
            value["secret"] = json!(self.secret);
        }
        value
    }
}
