//! Stripe, and only here: the client (API base, key and timeout from config), the calls
//! Cartwright makes, each POST under an idempotency key derived from what it does, and
//! how a failed call classifies for the job runtime.
//!
//! Every POST is sent once (`RequestStrategy::Idempotent`): retrying is the runtime's
//! job, and a retried job sends the same key, so Stripe applies it once.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::anyhow;
use cartwright_shared::config::StripeConfig;
use cartwright_shared::queue::handler::HandlerError;
use secrecy::ExposeSecret;
use stripe::{ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CancelPaymentIntentCancellationReason, CapturePaymentIntent,
    CreatePaymentIntent, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund};
use stripe_core::{PaymentIntent, PaymentIntentCaptureMethod, Refund};
use stripe_types::Currency;

use super::stripe_client::PooledClient;

/// How long to wait when Stripe says "too many requests" without saying how long.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(2);

/// Idempotency keys: one per effect, so a retry of the same job repeats the same key.
pub mod key {
    pub fn authorize(checkout_id: &str) -> String {
        format!("{checkout_id}:authorize")
    }
    pub fn capture(checkout_id: &str) -> String {
        format!("{checkout_id}:capture")
    }
    pub fn cancel(checkout_id: &str) -> String {
        format!("{checkout_id}:cancel")
    }
    pub fn refund(order_number: &str, sequence: i32) -> String {
        format!("{order_number}:refund:{sequence}")
    }
}

/// Stripe's refund reason for the one Cartwright recorded (the API accepts only these).
fn refund_reason(reason: &str) -> CreateRefundReason {
    match reason {
        "duplicate" => CreateRefundReason::Duplicate,
        "fraudulent" => CreateRefundReason::Fraudulent,
        "requested_by_customer" => CreateRefundReason::RequestedByCustomer,
        other => CreateRefundReason::Unknown(other.to_owned()),
    }
}

/// What a failed call means.
#[derive(Debug)]
pub enum Failure {
    /// The card was declined (HTTP 402): a domain outcome, not an error.
    Declined {
        code: String,
        decline_code: Option<String>,
        message: String,
        payment_intent: Option<String>,
    },
    /// Stripe refused the request for good (400, or a 402 that is not a card error): the
    /// same request will never succeed. Not Cartwright's confusion, so not a dead letter.
    Refused(Refusal),
    /// Anything else, classified for the runtime.
    Job(HandlerError),
}

/// What Stripe said when it refused a request.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub code: Option<String>,
    pub param: Option<String>,
    pub message: String,
}

impl Refusal {
    /// A stable code and plain words for the customer: why their payment did not happen.
    pub fn for_customer(&self) -> (&'static str, &'static str) {
        let code = self.code.as_deref().unwrap_or_default();
        if self.param.as_deref() == Some("payment_method") || code.starts_with("payment_method") {
            (
                "invalid_payment_method",
                "the payment method could not be used",
            )
        } else if self.param.as_deref() == Some("amount") || code.starts_with("amount_") {
            (
                "invalid_amount",
                "the amount could not be charged to this card",
            )
        } else {
            (
                "payment_refused",
                "the payment was refused by the payment processor",
            )
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stripe refused ({}, {}): {}",
            self.status,
            self.code.as_deref().unwrap_or("no code"),
            self.message
        )
    }
}

impl From<StripeError> for Failure {
    fn from(err: StripeError) -> Self {
        match err {
            StripeError::Stripe(errors, 402) if errors.type_ == ApiErrorsType::CardError => {
                Failure::Declined {
                    code: errors
                        .code
                        .as_ref()
                        .map_or_else(|| "card_declined".to_owned(), |c| c.as_str().to_owned()),
                    decline_code: errors.decline_code.clone(),
                    message: errors.message.clone().unwrap_or_default(),
                    payment_intent: errors.payment_intent.as_ref().map(|pi| pi.id.to_string()),
                }
            }
            StripeError::Stripe(errors, status @ (400 | 402)) => Failure::Refused(Refusal {
                status,
                code: errors.code.as_ref().map(|c| c.as_str().to_owned()),
                param: errors.param.clone(),
                message: errors.message.clone().unwrap_or_default(),
            }),
            other => Failure::Job(classify(other)),
        }
    }
}

/// 5xx, 429, 409 (the same key still running), timeouts and connection errors are
/// worth retrying; other 4xx and unreadable answers are not.
pub fn classify(err: StripeError) -> HandlerError {
    let transient = match &err {
        StripeError::Stripe(_, 429) => {
            return HandlerError::RetryAfter(RATE_LIMIT_BACKOFF, anyhow!("stripe: {err}"));
        }
        StripeError::Stripe(_, status) => *status >= 500 || *status == 409,
        StripeError::Timeout | StripeError::ClientError(_) => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    };
    let err = anyhow!("stripe: {err}");
    if transient {
        HandlerError::Transient(err)
    } else {
        HandlerError::Permanent(err)
    }
}

impl From<Failure> for HandlerError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Job(err) => err,
            Failure::Refused(refusal) => HandlerError::Permanent(anyhow!("{refusal}")),
            Failure::Declined { code, message, .. } => {
                HandlerError::Permanent(anyhow!("stripe declined: {code}: {message}"))
            }
        }
    }
}

#[derive(Clone)]
pub struct Stripe {
    client: PooledClient,
}

impl Stripe {
    pub fn new(config: &StripeConfig) -> anyhow::Result<Self> {
        let client = PooledClient::new(
            config.secret_key.expose_secret(),
            &config.api_base,
            Some(config.timeout),
        )
        .map_err(|e| anyhow!("building the Stripe client: {e}"))?;
        Ok(Self { client })
    }

    /// A manual-capture PaymentIntent for the checkout's total, confirmed at once.
    pub async fn authorize(
        &self,
        checkout_id: &str,
        amount: i64,
        currency: &str,
        payment_method: &str,
    ) -> Result<PaymentIntent, Failure> {
        let currency = stripe_currency(currency)?;
        Ok(CreatePaymentIntent::new(amount, currency)
            .capture_method(PaymentIntentCaptureMethod::Manual)
            .confirm(true)
            .payment_method(payment_method)
            .metadata(HashMap::from([(
                "checkout_id".to_owned(),
                checkout_id.to_owned(),
            )]))
            .customize()
            .request_strategy(once(&key::authorize(checkout_id))?)
            .send(&self.client)
            .await?)
    }

    pub async fn capture(
        &self,
        checkout_id: &str,
        payment_intent: &str,
        amount: i64,
    ) -> Result<PaymentIntent, Failure> {
        Ok(CapturePaymentIntent::new(payment_intent)
            .amount_to_capture(amount)
            .customize()
            .request_strategy(once(&key::capture(checkout_id))?)
            .send(&self.client)
            .await?)
    }

    pub async fn cancel(
        &self,
        checkout_id: &str,
        payment_intent: &str,
    ) -> Result<PaymentIntent, Failure> {
        Ok(CancelPaymentIntent::new(payment_intent)
            .cancellation_reason(CancelPaymentIntentCancellationReason::Abandoned)
            .customize()
            .request_strategy(once(&key::cancel(checkout_id))?)
            .send(&self.client)
            .await?)
    }

    /// Refund number `sequence` of an order. Its metadata names the order and the
    /// sequence, so [`Stripe::find_refund`] can find it again after the key has expired.
    pub async fn refund(
        &self,
        payment_intent: &str,
        order_number: &str,
        sequence: i32,
        amount: i64,
        reason: Option<&str>,
    ) -> Result<Refund, Failure> {
        let mut request = CreateRefund::new()
            .payment_intent(payment_intent)
            .amount(amount);
        if let Some(reason) = reason {
            request = request.reason(refund_reason(reason));
        }
        Ok(request
            .metadata(HashMap::from([
                ("order_number".to_owned(), order_number.to_owned()),
                ("refund_number".to_owned(), sequence.to_string()),
            ]))
            .customize()
            .request_strategy(once(&key::refund(order_number, sequence))?)
            .send(&self.client)
            .await?)
    }

    /// Refund number `sequence` of an order if Stripe already made it (and it has not
    /// failed). Stripe keeps an idempotency key about 24 hours; a refund job replayed
    /// later from the dead letters would otherwise refund a second time.
    pub async fn find_refund(
        &self,
        payment_intent: &str,
        order_number: &str,
        sequence: i32,
    ) -> Result<Option<Refund>, Failure> {
        let sequence = sequence.to_string();
        let ours = |refund: &Refund| {
            let meta = refund.metadata.as_ref();
            let says = |key: &str, value: &str| {
                meta.and_then(|m| m.get(key)).map(String::as_str) == Some(value)
            };
            says("order_number", order_number)
                && says("refund_number", &sequence)
                && !matches!(refund.status.as_deref(), Some("failed" | "canceled"))
        };
        let mut after: Option<String> = None;
        loop {
            let mut request = ListRefund::new().payment_intent(payment_intent).limit(100);
            if let Some(after) = &after {
                request = request.starting_after(after.as_str());
            }
            let page = request.send(&self.client).await?;
            let last = page.data.last().map(|r| r.id.to_string());
            if let Some(found) = page.data.into_iter().find(|r| ours(r)) {
                return Ok(Some(found));
            }
            match last {
                Some(last) if page.has_more => after = Some(last),
                _ => return Ok(None),
            }
        }
    }

    pub async fn payment_intent(&self, id: &str) -> Result<PaymentIntent, Failure> {
        Ok(RetrievePaymentIntent::new(id).send(&self.client).await?)
    }

    /// The PaymentIntent a dispute is about, if Stripe names one.
    pub async fn disputed_payment_intent(&self, dispute: &str) -> Result<Option<String>, Failure> {
        let dispute = stripe_core::dispute::RetrieveDispute::new(dispute)
            .send(&self.client)
            .await?;
        Ok(dispute.payment_intent.map(|pi| pi.id().to_string()))
    }
}

/// Stripe's code for a checkout's currency. One Stripe does not know is a permanent
/// error: charging it in any other currency would take the wrong amount.
fn stripe_currency(code: &str) -> Result<Currency, Failure> {
    match Currency::from_str(code) {
        Ok(Currency::Unknown(_)) | Err(_) => Err(Failure::Job(HandlerError::Permanent(anyhow!(
            "currency {code:?} is not one Stripe knows; not charging it as another"
        )))),
        Ok(currency) => Ok(currency),
    }
}

fn once(key: &str) -> Result<RequestStrategy, Failure> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| {
            Failure::Job(HandlerError::Permanent(anyhow!(
                "idempotency key {key:?}: {e}"
            )))
        })
}

/// Whether `pi` asks for `amount` in `currency`. A PaymentIntent that names a checkout in
/// its metadata but another amount or currency is not that checkout's payment.
pub fn pays_for(pi: &PaymentIntent, amount: i64, currency: &str) -> bool {
    pi.amount == amount && pi.currency.to_string() == currency
}

/// The decline code of a PaymentIntent's last failed attempt (3-D Secure failed, or a
/// card declined after authentication).
pub fn last_error(pi: &PaymentIntent) -> (String, Option<String>) {
    match &pi.last_payment_error {
        Some(err) => (
            err.message
                .clone()
                .unwrap_or_else(|| "the payment was not completed".to_owned()),
            err.decline_code
                .clone()
                .or_else(|| err.code.as_ref().map(|c| c.as_str().to_owned())),
        ),
        None => ("the payment was not completed".to_owned(), None),
    }
}
