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
const INSUFFICIENT: &str = "Your card has insufficient funds.";

const fn approve(id: &'static str, brand: &'static str, last4: &'static str) -> TestCard {
    TestCard {
        id,
        brand,
        last4,
        outcome: Outcome::Approve,
    }
}

const fn decline(id: &'static str, last4: &'static str, decline: Decline) -> TestCard {
    TestCard {
        id,
        brand: "visa",
        last4,
        outcome: Outcome::Decline(decline),
    }
}

const fn authenticate(id: &'static str, last4: &'static str, then: Option<Decline>) -> TestCard {
    TestCard {
        id,
        brand: "visa",
        last4,
        outcome: Outcome::Authenticate { then_decline: then },
    }
}

/// The PaymentMethods of Stripe's testing docs (docs.stripe.com/testing). The emulator
/// applies no Radar rules, so the fraud, address, CVC, dispute and refund-failure cards
/// approve like Stripe's do under default settings; what they test happens later or
/// elsewhere. Any other id is unknown, as at Stripe.
const CARDS: &[TestCard] = &[
    // Cards by brand.
    approve("pm_card_visa", "visa", "4242"),
    approve("pm_card_visa_debit", "visa", "5556"),
    approve("pm_card_mastercard", "mastercard", "4444"),
    approve("pm_card_mastercard_debit", "mastercard", "8210"),
    approve("pm_card_mastercard_prepaid", "mastercard", "5100"),
    approve("pm_card_amex", "amex", "8431"),
    approve("pm_card_discover", "discover", "1117"),
    approve("pm_card_diners", "diners", "0004"),
    approve("pm_card_jcb", "jcb", "0505"),
    approve("pm_card_unionpay", "unionpay", "0005"),
    // Declined payments.
    decline(
        "pm_card_visa_chargeDeclined",
        "0002",
        Decline::card("generic_decline", DECLINED),
    ),
    decline(
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "9995",
        Decline::card("insufficient_funds", INSUFFICIENT),
    ),
    decline(
        "pm_card_visa_chargeDeclinedLostCard",
        "9987",
        Decline::card("lost_card", DECLINED),
    ),
    decline(
        "pm_card_visa_chargeDeclinedStolenCard",
        "9979",
        Decline::card("stolen_card", DECLINED),
    ),
    decline(
        "pm_card_visa_chargeDeclinedVelocityLimitExceeded",
        "6975",
        Decline::card("card_velocity_exceeded", DECLINED),
    ),
    decline(
        "pm_card_chargeDeclinedExpiredCard",
        "0069",
        Decline {
            code: "expired_card",
            decline_code: "expired_card",
            message: "Your card has expired.",
        },
    ),
    decline(
        "pm_card_chargeDeclinedIncorrectCvc",
        "0127",
        Decline {
            code: "incorrect_cvc",
            decline_code: "incorrect_cvc",
            message: "Your card's security code is incorrect.",
        },
    ),
    decline(
        "pm_card_chargeDeclinedProcessingError",
        "0119",
        Decline {
            code: "processing_error",
            decline_code: "processing_error",
            message: "An error occurred while processing your card. Try again in a little bit.",
        },
    ),
    decline(
        "pm_card_chargeCustomerFail",
        "0341",
        Decline::card("generic_decline", DECLINED),
    ),
    // The same declines under their token-style names (`tok_chargeDeclined…`).
    decline(
        "pm_card_chargeDeclined",
        "0002",
        Decline::card("generic_decline", DECLINED),
    ),
    decline(
        "pm_card_chargeDeclinedInsufficientFunds",
        "9995",
        Decline::card("insufficient_funds", INSUFFICIENT),
    ),
    decline(
        "pm_card_chargeDeclinedLostCard",
        "9987",
        Decline::card("lost_card", DECLINED),
    ),
    decline(
        "pm_card_chargeDeclinedStolenCard",
        "9979",
        Decline::card("stolen_card", DECLINED),
    ),
    decline(
        "pm_card_chargeDeclinedFraudulent",
        "0019",
        Decline::card("fraudulent", DECLINED),
    ),
    // Fraud prevention: blocked by Radar always, or approved with a risk level.
    decline(
        "pm_card_radarBlock",
        "0019",
        Decline::card("fraudulent", DECLINED),
    ),
    decline(
        "pm_card_riskLevelHighest",
        "4954",
        Decline::card("fraudulent", DECLINED),
    ),
    approve("pm_card_riskLevelElevated", "visa", "9235"),
    approve("pm_card_cvcCheckFail", "visa", "0101"),
    approve("pm_card_avsFail", "visa", "0010"),
    approve("pm_card_avsLine1Fail", "visa", "0028"),
    approve("pm_card_avsZipFail", "visa", "0036"),
    // Balances, disputes and refunds: the payment itself is approved.
    approve("pm_card_bypassPending", "visa", "0077"),
    approve("pm_card_domesticPricing", "visa", "0093"),
    approve("pm_card_createDispute", "visa", "0259"),
    approve("pm_card_createDisputeProductNotReceived", "visa", "2685"),
    approve("pm_card_createDisputeInquiry", "visa", "1976"),
    approve("pm_card_refundFail", "visa", "5126"),
    // 3-D Secure.
    authenticate("pm_card_authenticationRequired", "3184", None),
    authenticate("pm_card_authenticationRequiredOnSetup", "3155", None),
    authenticate("pm_card_threeDSecure2Required", "3220", None),
    approve("pm_card_threeDSecureOptional", "visa", "3063"),
    authenticate(
        "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
        "9978",
        Some(Decline::card("insufficient_funds", INSUFFICIENT)),
    ),
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

    fn funding(&self) -> &'static str {
        if self.id.ends_with("_debit") {
            "debit"
        } else if self.id.ends_with("_prepaid") {
            "prepaid"
        } else {
            "credit"
        }
    }

    fn card_object(&self) -> Value {
        json!({
            "brand": self.brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "funding": self.funding(),
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

    #[test]
    fn every_visa_charge_declined_card_declines() {
        let ids: Vec<&str> = CARDS
            .iter()
            .map(|c| c.id)
            .filter(|id| id.starts_with("pm_card_visa_chargeDeclined"))
            .collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        for id in ids {
            assert!(
                matches!(find(id).unwrap().outcome, Outcome::Decline(d) if d.code == "card_declined"),
                "{id}"
            );
        }
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = CARDS.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CARDS.len());
    }
}
