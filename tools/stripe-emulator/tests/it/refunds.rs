//! Refunds: never more than was captured and not yet refunded.

use stripe::ApiErrorsCode;
use stripe_core::RefundReason;
use stripe_core::payment_intent::CapturePaymentIntent;
use stripe_core::refund::{CreateRefund, CreateRefundReason, RetrieveRefund};

use crate::common::{authorize, start, stripe_error};

#[tokio::test]
async fn refunds_are_bounded_by_the_captured_amount() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    CapturePaymentIntent::new(pi.id.clone())
        .amount_to_capture(3000)
        .send(&emu.client)
        .await
        .unwrap();

    let refund = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(2000)
        .reason(CreateRefundReason::RequestedByCustomer)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(refund.amount, 2000);
    assert_eq!(refund.status.as_deref(), Some("succeeded"));
    assert_eq!(refund.reason, Some(RefundReason::RequestedByCustomer));
    assert_eq!(
        refund.payment_intent.as_ref().map(|p| p.id().as_str()),
        Some(pi.id.as_str())
    );

    let (err, status) = stripe_error(
        CreateRefund::new()
            .payment_intent(pi.id.as_str())
            .amount(1001)
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code, err.param.as_deref()),
        (400, Some(ApiErrorsCode::AmountTooLarge), Some("amount"))
    );

    let rest = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(rest.amount, 1000, "no amount refunds what is left");
    let (err, _) = stripe_error(
        CreateRefund::new()
            .payment_intent(pi.id.as_str())
            .send(&emu.client)
            .await,
    );
    assert_eq!(err.code, Some(ApiErrorsCode::ChargeAlreadyRefunded));

    let fetched = RetrieveRefund::new(rest.id.clone())
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(fetched.id, rest.id);
    let row = &emu.ledger().await["payment_intents"][0];
    assert_eq!(
        (
            row["captured"].as_i64(),
            row["refunded"].as_i64(),
            row["released"].as_i64()
        ),
        (Some(3000), Some(3000), Some(2000))
    );
}

#[tokio::test]
async fn refund_by_charge_and_uncaptured_charges() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    let charge = pi.latest_charge.as_ref().unwrap().id().as_str().to_owned();
    let (err, status) = stripe_error(
        CreateRefund::new()
            .charge(charge.as_str())
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code),
        (400, Some(ApiErrorsCode::ChargeNotRefundable))
    );

    CapturePaymentIntent::new(pi.id)
        .send(&emu.client)
        .await
        .unwrap();
    let refund = CreateRefund::new()
        .charge(charge.as_str())
        .amount(5000)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(
        refund.charge.map(|c| c.id().as_str().to_owned()),
        Some(charge)
    );

    let (err, status) = stripe_error(
        CreateRefund::new()
            .payment_intent("pi_missing")
            .send(&emu.client)
            .await,
    );
    assert_eq!(
        (status, err.code),
        (400, Some(ApiErrorsCode::ResourceMissing))
    );
    let (err, status) = stripe_error(RetrieveRefund::new("re_missing").send(&emu.client).await);
    assert_eq!(
        (status, err.code),
        (404, Some(ApiErrorsCode::ResourceMissing))
    );
}

#[tokio::test]
async fn refund_list_filters_by_payment_intent() {
    let emu = start().await;
    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    CapturePaymentIntent::new(pi.id.clone())
        .send(&emu.client)
        .await
        .unwrap();
    for amount in [100, 200] {
        CreateRefund::new()
            .payment_intent(pi.id.as_str())
            .amount(amount)
            .send(&emu.client)
            .await
            .unwrap();
    }
    let (status, list) = emu
        .get(&format!("/v1/refunds?payment_intent={}&limit=1", pi.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["amount"], 200, "newest first");
    assert_eq!(list["has_more"], true);
}
