//! The message envelope: every message on the broker is this JSON object. Versioned, so
//! a consumer can refuse (dead-letter) a shape it does not know instead of misreading it.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    /// Unique per message; consumers de-duplicate on it.
    pub id: Uuid,
    /// The routing key, e.g. `checkout.submitted`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The checkout (or other aggregate) this message is about.
    pub correlation_id: String,
    /// Deliveries so far that ended in a retry; 0 on the first delivery.
    pub attempt: u32,
    pub created_at: DateTime<Utc>,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a message envelope: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("envelope version {0} is not supported (this build reads version {VERSION})")]
    Version(u8),
}

impl Envelope {
    pub fn new(message_type: &str, correlation_id: &str, payload: Value) -> Self {
        Self {
            v: VERSION,
            id: Uuid::now_v7(),
            message_type: message_type.to_owned(),
            correlation_id: correlation_id.to_owned(),
            attempt: 0,
            created_at: Utc::now(),
            payload,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope: Self = serde_json::from_slice(body)?;
        if envelope.v != VERSION {
            return Err(EnvelopeError::Version(envelope.v));
        }
        Ok(envelope)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of plain fields and a Value cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The payload as the handler's own type.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let envelope = Envelope::new("checkout.submitted", "chk_1", json!({"total": 5}));
        assert_eq!(Envelope::parse(&envelope.to_bytes()).unwrap(), envelope);
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EnvelopeError::Shape(_))
        ));
        assert!(matches!(
            Envelope::parse(br#"{"hello": 1}"#),
            Err(EnvelopeError::Shape(_))
        ));
        let mut future = serde_json::to_value(&envelope).unwrap();
        future["v"] = json!(2);
        let bytes = serde_json::to_vec(&future).unwrap();
        assert!(matches!(
            Envelope::parse(&bytes),
            Err(EnvelopeError::Version(2))
        ));
    }
}
