//! The Charge object: one per confirmation attempt that reached the card network.

use serde_json::{Value, json};

use super::{Metadata, metadata_json};
use crate::cards::{self, Decline, TestCard};

/// A stored Charge. `amount_refunded` counts both refunds and the part of an
/// authorization released by a partial capture, as Stripe reports it.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub captured: bool,
    pub created: i64,
    pub currency: String,
    pub description: Option<String>,
    pub disputed: bool,
    pub failure: Option<Decline>,
    pub metadata: Metadata,
    pub payment_intent: String,
    pub card: &'static TestCard,
}

impl Charge {
    /// The captured amount not yet refunded.
    pub fn refundable(&self) -> i64 {
        self.amount - self.amount_refunded
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// Stripe's JSON; `payment_intent` is the id unless the caller passes the expanded intent.
    pub fn to_json(&self, expanded_intent: Option<Value>) -> Value {
        let outcome = match &self.failure {
            None => json!({
                "network_status": "approved_by_network",
                "reason": null,
                "risk_level": "normal",
                "risk_score": 20,
                "seller_message": "Payment complete.",
                "type": "authorized",
            }),
            Some(decline) => json!({
                "network_status": "declined_by_network",
                "reason": decline.decline_code,
                "risk_level": if decline.decline_code == "fraudulent" { "highest" } else { "normal" },
                "risk_score": if decline.decline_code == "fraudulent" { 95 } else { 20 },
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            }),
        };
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": null,
            "billing_details": cards::billing_details(),
            "calculated_statement_descriptor": "CARTWRIGHT",
            "captured": self.captured,
            "created": self.created,
            "currency": self.currency,
            "customer": null,
            "description": self.description,
            "disputed": self.disputed,
            "failure_balance_transaction": null,
            "failure_code": self.failure.map(|d| d.code),
            "failure_message": self.failure.map(|d| d.message),
            "fraud_details": {},
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": self.succeeded(),
            "payment_intent": expanded_intent.unwrap_or_else(|| json!(self.payment_intent)),
            "payment_method": self.card.id,
            "payment_method_details": self.card.charge_details(),
            "receipt_email": null,
            "receipt_number": null,
            "receipt_url": null,
            "refunded": self.captured && self.refundable() == 0,
            "review": null,
            "shipping": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": if self.succeeded() { "succeeded" } else { "failed" },
            "transfer_data": null,
            "transfer_group": null,
        })
    }
}
