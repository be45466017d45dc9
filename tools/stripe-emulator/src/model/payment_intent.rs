//! The PaymentIntent object.

use serde_json::{Value, json};

use super::{Metadata, metadata_json};
use crate::cards::Decline;

/// A PaymentIntent's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    RequiresCapture,
    Canceled,
    Succeeded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
        }
    }
}

/// A stored PaymentIntent. Money is in the currency's minor unit.
#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub client_secret: String,
    pub amount: i64,
    pub currency: String,
    /// `automatic`, `automatic_async` or `manual`.
    pub capture_method: String,
    pub confirmation_method: String,
    pub status: Status,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub return_url: Option<String>,
    pub created: i64,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<Value>,
    pub next_action: Option<Value>,
    /// What happens once a pending 3-D Secure challenge is completed (`None`: approve).
    pub after_authentication: Option<Decline>,
    /// The idempotency key of the request that created it (for the ledger).
    pub idempotency_key: Option<String>,
}

impl PaymentIntent {
    pub fn is_manual_capture(&self) -> bool {
        self.capture_method == "manual"
    }

    /// Stripe's JSON; `latest_charge` is the id unless the caller passes the expanded charge.
    pub fn to_json(&self, expanded_charge: Option<Value>) -> Value {
        let latest_charge =
            expanded_charge.or_else(|| self.latest_charge.clone().map(Value::String));
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_details": { "tip": {} },
            "amount_received": self.amount_received,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": null,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method,
            "client_secret": self.client_secret,
            "confirmation_method": self.confirmation_method,
            "created": self.created,
            "currency": self.currency,
            "customer": null,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": latest_charge,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "next_action": self.next_action,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": {
                "card": {
                    "installments": null,
                    "mandate_options": null,
                    "network": null,
                    "request_three_d_secure": "automatic",
                },
            },
            "payment_method_types": self.payment_method_types,
            "processing": null,
            "receipt_email": self.receipt_email,
            "review": null,
            "setup_future_usage": null,
            "shipping": null,
            "source": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": self.status.as_str(),
            "transfer_data": null,
            "transfer_group": null,
        })
    }
}
