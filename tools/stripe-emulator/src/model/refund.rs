//! The Refund object.

use serde_json::{Value, json};

use super::{Metadata, metadata_json};

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub charge: String,
    pub created: i64,
    pub currency: String,
    pub metadata: Metadata,
    pub payment_intent: String,
    pub reason: Option<String>,
}

impl Refund {
    /// Stripe's JSON, with `charge` and `payment_intent` expanded when the caller passes them.
    pub fn to_json(&self, charge: Option<Value>, payment_intent: Option<Value>) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": null,
            "charge": charge.unwrap_or_else(|| json!(self.charge)),
            "created": self.created,
            "currency": self.currency,
            "destination_details": null,
            "metadata": metadata_json(&self.metadata),
            "payment_intent": payment_intent.unwrap_or_else(|| json!(self.payment_intent)),
            "reason": self.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        })
    }
}
