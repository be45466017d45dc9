//! PaymentIntent lifecycle through the real client.

use stripe::{ApiErrorsCode, ApiErrorsType, ClientBuilder};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CancelPaymentIntentCancellationReason, CapturePaymentIntent,
    ConfirmPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent,
};
use stripe_core::{
    PaymentIntentCancellationReason, PaymentIntentCaptureMethod, PaymentIntentStatus,
};
use stripe_types::{Currency, Expandable};

use crate::common::{authorize, start, stripe_error};

#[tokio::test]
async fn manual_capture_authorizes_to_requires_capture() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    assert_eq!(pi.capture_method, PaymentIntentCaptureMethod::Manual);
    assert_eq!(
        (pi.amount, pi.amount_capturable, pi.amount_received),
        (5000, 5000, 0)
    );
    assert_eq!(
        pi.metadata.get("checkout_id").map(String::as_str),
        Some("chk_1")
    );
    assert!(!pi.livemode && pi.client_secret.is_some());
    let charge = pi.latest_charge.expect("a charge");
    assert!(matches!(&charge, Expandable::Id(id) if id.as_str().starts_with("ch_")));
}

#[tokio::test]
async fn partial_capture_receives_part_and_releases_the_rest() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_mastercard")
        .send(&emu.client)
        .await
        .unwrap();
    let captured = CapturePaymentIntent::new(pi.id.clone())
        .amount_to_capture(3000)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentIntentStatus::Succeeded);
    assert_eq!(
        (captured.amount_received, captured.amount_capturable),
        (3000, 0)
    );

    let expanded = RetrievePaymentIntent::new(pi.id.clone())
        .expand(vec!["latest_charge".to_owned()])
        .send(&emu.client)
        .await
        .unwrap();
    let Some(Expandable::Object(charge)) = expanded.latest_charge else {
        panic!("latest_charge not expanded")
    };
    assert!(charge.captured);
    assert_eq!(
        (
            charge.amount,
            charge.amount_captured,
            charge.amount_refunded
        ),
        (5000, 3000, 2000)
    );

    let ledger = emu.ledger().await;
    let row = &ledger["payment_intents"][0];
    assert_eq!(
        (row["authorized"].as_i64(), row["captured"].as_i64()),
        (Some(5000), Some(3000))
    );
    assert_eq!(
        (row["released"].as_i64(), row["refunded"].as_i64()),
        (Some(2000), Some(0))
    );

    let (err, status) = stripe_error(CapturePaymentIntent::new(pi.id).send(&emu.client).await);
    assert_eq!(
        (status, err.code),
        (400, Some(ApiErrorsCode::PaymentIntentUnexpectedState))
    );
}

#[tokio::test]
async fn capturing_more_than_authorized_is_refused() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    let (err, status) = stripe_error(
        CapturePaymentIntent::new(pi.id)
            .amount_to_capture(5001)
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code, err.param.as_deref()),
        (
            400,
            Some(ApiErrorsCode::AmountTooLarge),
            Some("amount_to_capture")
        )
    );
}

#[tokio::test]
async fn cancel_releases_the_authorization() {
    let emu = start().await;
    let pi = authorize(2500, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    let canceled = CancelPaymentIntent::new(pi.id.clone())
        .cancellation_reason(CancelPaymentIntentCancellationReason::Abandoned)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
    assert_eq!(
        canceled.cancellation_reason,
        Some(PaymentIntentCancellationReason::Abandoned)
    );
    assert!(canceled.canceled_at.is_some());
    assert_eq!(
        (canceled.amount_capturable, canceled.amount_received),
        (0, 0)
    );
    let row = &emu.ledger().await["payment_intents"][0];
    assert_eq!(
        (row["released"].as_i64(), row["captured"].as_i64()),
        (Some(2500), Some(0))
    );

    let (err, _) = stripe_error(
        CapturePaymentIntent::new(pi.id.clone())
            .send(&emu.client)
            .await,
    );
    assert_eq!(err.code, Some(ApiErrorsCode::PaymentIntentUnexpectedState));
    let (err, _) = stripe_error(CancelPaymentIntent::new(pi.id).send(&emu.client).await);
    assert_eq!(err.code, Some(ApiErrorsCode::PaymentIntentUnexpectedState));
}

#[tokio::test]
async fn declines_are_402_card_errors_with_decline_codes() {
    let emu = start().await;
    let cases = [
        (
            "pm_card_chargeDeclined",
            ApiErrorsCode::CardDeclined,
            "generic_decline",
        ),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            ApiErrorsCode::CardDeclined,
            "insufficient_funds",
        ),
        (
            "pm_card_chargeDeclinedFraudulent",
            ApiErrorsCode::CardDeclined,
            "fraudulent",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            ApiErrorsCode::ExpiredCard,
            "expired_card",
        ),
    ];
    for (card, code, decline_code) in cases {
        let (err, status) = stripe_error(authorize(5000, card).send(&emu.client).await);
        assert_eq!(status, 402, "{card}");
        assert_eq!(err.type_, ApiErrorsType::CardError);
        assert_eq!(err.code, Some(code), "{card}");
        assert_eq!(err.decline_code.as_deref(), Some(decline_code));
        assert!(err.charge.as_deref().is_some_and(|c| c.starts_with("ch_")));
        let pi = err
            .payment_intent
            .expect("the error carries the PaymentIntent");
        assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
        let last = pi.last_payment_error.expect("last_payment_error");
        assert_eq!(last.decline_code.as_deref(), Some(decline_code));
    }
    let ledger = emu.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 4);
    assert_eq!(ledger["totals"]["usd"]["authorized"], 0);
}

#[tokio::test]
async fn two_step_confirm_and_automatic_capture() {
    let emu = start().await;
    let pi = CreatePaymentIntent::new(1999, Currency::USD)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(
        pi.capture_method,
        PaymentIntentCaptureMethod::AutomaticAsync
    );
    assert_eq!(pi.payment_method_types, vec!["card".to_owned()]);
    let confirmed = ConfirmPaymentIntent::new(pi.id.clone())
        .payment_method("pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(confirmed.status, PaymentIntentStatus::Succeeded);
    assert_eq!(confirmed.amount_received, 1999);

    let pending = CreatePaymentIntent::new(700, Currency::EUR)
        .payment_method("pm_card_visa")
        .capture_method(PaymentIntentCaptureMethod::Manual)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pending.status, PaymentIntentStatus::RequiresConfirmation);
    let confirmed = ConfirmPaymentIntent::new(pending.id)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(confirmed.status, PaymentIntentStatus::RequiresCapture);
    assert_eq!(confirmed.currency, Currency::EUR);
}

#[tokio::test]
async fn unknown_objects_and_bad_params_are_invalid_requests() {
    let emu = start().await;
    let (err, status) = stripe_error(
        authorize(5000, "pm_card_nonexistent")
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code, err.param.as_deref()),
        (
            400,
            Some(ApiErrorsCode::ResourceMissing),
            Some("payment_method")
        )
    );

    let (err, status) = stripe_error(
        RetrievePaymentIntent::new("pi_missing")
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code),
        (404, Some(ApiErrorsCode::ResourceMissing))
    );

    let (err, status) = stripe_error(
        CreatePaymentIntent::new(10, Currency::USD)
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code),
        (400, Some(ApiErrorsCode::AmountTooSmall))
    );
    assert_eq!(emu.ledger().await["counters"]["payment_intents_created"], 0);
}

#[tokio::test]
async fn requests_without_a_test_key_are_401() {
    let emu = start().await;
    let response = emu
        .http
        .post(emu.handle.url("/v1/payment_intents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let live = ClientBuilder::new("sk_live_nope")
        .url(emu.handle.base_url.clone())
        .build()
        .unwrap();
    let (_, status) = stripe_error(authorize(5000, "pm_card_visa").send(&live).await);
    assert_eq!(status, 401);
    assert_eq!(
        emu.ledger().await["counters"]["payment_intent_create_requests"],
        0
    );
}

#[tokio::test]
async fn an_unknown_payment_method_is_refused_as_stripe_refuses_it() {
    let emu = start().await;
    let (err, status) = stripe_error(authorize(5000, "pm_x").send(&emu.client).await);
    assert_eq!(status, 400);
    assert_eq!(err.type_, ApiErrorsType::InvalidRequestError);
    assert_eq!(err.code, Some(ApiErrorsCode::ResourceMissing));
    assert_eq!(err.param.as_deref(), Some("payment_method"));
    assert_eq!(
        err.message.as_deref(),
        Some("No such PaymentMethod: 'pm_x'")
    );
    assert!(err.payment_intent.is_none(), "nothing was created");
    assert_eq!(emu.ledger().await["payment_intents"], serde_json::json!([]));
}

#[tokio::test]
async fn the_visa_charge_declined_cards_of_stripes_docs_decline() {
    let emu = start().await;
    for (pm, decline_code) in [
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        ("pm_card_visa_chargeDeclinedLostCard", "lost_card"),
        ("pm_card_visa_chargeDeclinedStolenCard", "stolen_card"),
        (
            "pm_card_visa_chargeDeclinedVelocityLimitExceeded",
            "card_velocity_exceeded",
        ),
        ("pm_card_chargeCustomerFail", "generic_decline"),
    ] {
        let (err, status) = stripe_error(authorize(5000, pm).send(&emu.client).await);
        assert_eq!(status, 402, "{pm}");
        assert_eq!(err.type_, ApiErrorsType::CardError, "{pm}");
        assert_eq!(err.code, Some(ApiErrorsCode::CardDeclined), "{pm}");
        assert_eq!(err.decline_code.as_deref(), Some(decline_code), "{pm}");
        assert!(
            err.payment_intent.is_some(),
            "{pm}: the declined PaymentIntent"
        );
    }
    for pm in [
        "pm_card_mastercard_debit",
        "pm_card_discover",
        "pm_card_jcb",
        "pm_card_riskLevelElevated",
    ] {
        let pi = authorize(5000, pm).send(&emu.client).await.unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture, "{pm}");
    }
}
