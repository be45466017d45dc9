//! The Event object: what happened, with a snapshot of the object it happened to.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub type_: String,
    pub created: i64,
    pub object: Value,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub pending_webhooks: i64,
}

impl Event {
    pub fn to_json(&self, api_version: &str) -> Value {
        json!({
            "id": self.id,
            "object": "event",
            "api_version": api_version,
            "created": self.created,
            "data": { "object": self.object },
            "livemode": false,
            "pending_webhooks": self.pending_webhooks,
            "request": { "id": self.request_id, "idempotency_key": self.idempotency_key },
            "type": self.type_,
        })
    }
}
