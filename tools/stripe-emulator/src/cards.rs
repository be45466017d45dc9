//! Stripe's test PaymentMethods (`pm_card_…`) and what confirming with each one does.

use serde_json::{Value, json};

/// What the card network answers when a PaymentIntent is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approve,
    Decline(Decline),
    /// 3-D Secure first; once the customer completes it, approve or decline with `then_decline`.
    Authenticate {
        then_decline: Option<Decline>,
    },
}

/// A decline: the error `code`, the issuer's `decline_code` and Stripe's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: &'static str,
}

impl Decline {
    const fn card(decline_code: &'static str, message: &'static str) -> Self {
        Self {
            code: "card_declined",
            decline_code,
            message,
        }
    }
}

/// A test card: its PaymentMethod id, brand, last four digits and outcome.
#[derive(Debug, Clone, Copy)]
pub struct TestCard {
    pub id: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub outcome: Outcome,
}

const DECLINED: &str = "Your card was declined.";

const CARDS: &[TestCard] = &[
    TestCard {
        id: "pm_card_visa",
        brand: "visa",
        last4: "4242",
        outcome: Outcome::Approve,
    },
    TestCard {
        id: "pm_card_visa_debit",
        brand: "visa",
        last4: "5556",
        outcome: Outcome::Approve,
    },
    TestCard {
        id: "pm_card_mastercard",
        brand: "mastercard",
        last4: "4444",
        outcome: Outcome::Approve,
    },
    TestCard {
        id: "pm_card_amex",
        brand: "amex",
        last4: "8431",
        outcome: Outcome::Approve,
    },
    TestCard {
        id: "pm_card_chargeDeclined",
        brand: "visa",
        last4: "0002",
        outcome: Outcome::Decline(Decline::card("generic_decline", DECLINED)),
    },
    TestCard {
        id: "pm_card_chargeDeclinedInsufficientFunds",
        brand: "visa",
        last4: "9995",
        outcome: Outcome::Decline(Decline::card(
            "insufficient_funds",
            "Your card has insufficient funds.",
        )),
    },
    TestCard {
        id: "pm_card_chargeDeclinedLostCard",
        brand: "visa",
        last4: "9987",
        outcome: Outcome::Decline(Decline::card("lost_card", DECLINED)),
    },
    TestCard {
        id: "pm_card_chargeDeclinedStolenCard",
        brand: "visa",
        last4: "9979",
        outcome: Outcome::Decline(Decline::card("stolen_card", DECLINED)),
    },
    TestCard {
        id: "pm_card_chargeDeclinedFraudulent",
        brand: "visa",
        last4: "0019",
        outcome: Outcome::Decline(Decline::card("fraudulent", DECLINED)),
    },
    TestCard {
        id: "pm_card_chargeDeclinedExpiredCard",
        brand: "visa",
        last4: "0069",
        outcome: Outcome::Decline(Decline {
            code: "expired_card",
            decline_code: "expired_card",
            message: "Your card has expired.",
        }),
    },
    TestCard {
        id: "pm_card_chargeDeclinedIncorrectCvc",
        brand: "visa",
        last4: "0127",
        outcome: Outcome::Decline(Decline {
            code: "incorrect_cvc",
            decline_code: "incorrect_cvc",
            message: "Your card's security code is incorrect.",
        }),
    },
    TestCard {
        id: "pm_card_chargeDeclinedProcessingError",
        brand: "visa",
        last4: "0119",
        outcome: Outcome::Decline(Decline {
            code: "processing_error",
            decline_code: "processing_error",
            message: "An error occurred while processing your card. Try again in a little bit.",
        }),
    },
    TestCard {
        id: "pm_card_authenticationRequired",
        brand: "visa",
        last4: "3184",
        outcome: Outcome::Authenticate { then_decline: None },
    },
    TestCard {
        id: "pm_card_threeDSecure2Required",
        brand: "visa",
        last4: "3220",
        outcome: Outcome::Authenticate { then_decline: None },
    },
    TestCard {
        id: "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
        brand: "visa",
        last4: "9978",
        outcome: Outcome::Authenticate {
            then_decline: Some(Decline::card(
                "insufficient_funds",
                "Your card has insufficient funds.",
            )),
        },
    },
];

/// The test card with PaymentMethod id `id`.
pub fn find(id: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|card| card.id == id)
}

impl TestCard {
    /// `payment_method_details` for a Charge paid with this card.
    pub fn charge_details(&self) -> Value {
        json!({
            "type": "card",
            "card": self.card_object(),
        })
    }

    /// A PaymentMethod object for this card (as embedded in card errors).
    pub fn payment_method(&self, created: i64) -> Value {
        json!({
            "id": self.id,
            "object": "payment_method",
            "type": "card",
            "billing_details": billing_details(),
            "card": self.card_object(),
            "created": created,
            "customer": null,
            "livemode": false,
            "metadata": {},
        })
    }

    fn card_object(&self) -> Value {
        json!({
            "brand": self.brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "funding": if self.id == "pm_card_visa_debit" { "debit" } else { "credit" },
            "last4": self.last4,
            "network": self.brand,
        })
    }
}

/// Empty billing details, as Stripe renders them when none were collected.
pub fn billing_details() -> Value {
    json!({ "address": null, "email": null, "name": null, "phone": null, "tax_id": null })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_cards_and_unknown_ids() {
        assert_eq!(
            find("pm_card_visa").map(|c| c.outcome),
            Some(Outcome::Approve)
        );
        let declined = find("pm_card_chargeDeclinedInsufficientFunds").unwrap();
        assert!(
            matches!(declined.outcome, Outcome::Decline(d) if d.decline_code == "insufficient_funds")
        );
        assert!(find("pm_card_nope").is_none());
    }
}
