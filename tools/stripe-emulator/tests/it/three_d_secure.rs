//! 3-D Secure: `requires_action`, then the control API (or the challenge page) decides.

use serde_json::json;
use stripe::ApiErrorsCode;
use stripe_core::PaymentIntentStatus;
use stripe_core::payment_intent::RetrievePaymentIntent;

use crate::common::{authorize, start};

#[tokio::test]
async fn completed_challenge_authorizes() {
    let emu = start().await;
    let pi = authorize(4200, "pm_card_authenticationRequired")
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);
    let action = pi.next_action.expect("next_action");
    assert_eq!(action.type_, "use_stripe_sdk");
    assert!(action.use_stripe_sdk.is_some());
    assert!(pi.latest_charge.is_none());

    let done = emu
        .control(
            &format!("/_emulator/payment_intents/{}/3ds", pi.id),
            json!({"outcome": "succeed"}),
        )
        .await;
    assert_eq!(done["status"], "requires_capture");
    let pi = RetrievePaymentIntent::new(pi.id)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    assert_eq!(pi.amount_capturable, 4200);
    assert!(pi.next_action.is_none());
}

#[tokio::test]
async fn failed_challenge_returns_to_requires_payment_method() {
    let emu = start().await;
    let pi = authorize(4200, "pm_card_threeDSecure2Required")
        .send(&emu.client)
        .await
        .unwrap();
    emu.control(
        &format!("/_emulator/payment_intents/{}/3ds", pi.id),
        json!({"outcome": "fail"}),
    )
    .await;
    let pi = RetrievePaymentIntent::new(pi.id)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = pi.last_payment_error.expect("last_payment_error");
    assert_eq!(
        error.code,
        Some(ApiErrorsCode::PaymentIntentAuthenticationFailure)
    );
    let ledger = emu.ledger().await;
    assert_eq!(ledger["payment_intents"][0]["authorized"], 0);
}

#[tokio::test]
async fn challenge_then_decline() {
    let emu = start().await;
    let card = "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds";
    let pi = authorize(4200, card).send(&emu.client).await.unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);
    emu.control(
        &format!("/_emulator/payment_intents/{}/3ds", pi.id),
        json!({"outcome": "succeed"}),
    )
    .await;
    let pi = RetrievePaymentIntent::new(pi.id)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(
        pi.last_payment_error
            .and_then(|e| e.decline_code)
            .as_deref(),
        Some("insufficient_funds")
    );
}

#[tokio::test]
async fn redirect_flow_with_return_url() {
    let emu = start().await;
    let pi = authorize(4200, "pm_card_authenticationRequired")
        .return_url("https://shop.example/return")
        .send(&emu.client)
        .await
        .unwrap();
    let action = pi.next_action.expect("next_action");
    assert_eq!(action.type_, "redirect_to_url");
    let redirect = action.redirect_to_url.expect("redirect_to_url");
    let url = redirect.url.expect("challenge url");
    assert!(url.starts_with(&emu.handle.base_url));

    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_follow
        .get(format!("{url}?outcome=succeed"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://shop.example/return?payment_intent=pi_"),
        "{location}"
    );
    assert!(location.ends_with("redirect_status=succeeded"));
    let pi = RetrievePaymentIntent::new(pi.id)
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
}

#[tokio::test]
async fn completing_without_a_pending_challenge_is_refused() {
    let emu = start().await;
    let pi = authorize(4200, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    let response = emu
        .http
        .post(
            emu.handle
                .url(&format!("/_emulator/payment_intents/{}/3ds", pi.id)),
        )
        .json(&json!({"outcome": "succeed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
