//! The Dispute object, opened through the control API.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub charge: String,
    pub created: i64,
    pub currency: String,
    pub payment_intent: String,
    pub reason: String,
}

impl Dispute {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "enhanced_eligibility_types": [],
            "evidence": {
                "enhanced_evidence": {},
                "product_description": null,
                "uncategorized_text": null,
            },
            "evidence_details": {
                "due_by": self.created + 7 * 24 * 3600,
                "enhanced_eligibility": {},
                "has_evidence": false,
                "past_due": false,
                "submission_count": 0,
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "network_reason_code": null,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "status": "needs_response",
        })
    }
}
