//! Idempotency keys and injected faults: a customer is charged once whatever fails.

use std::time::{Duration, Instant};

use serde_json::json;
use stripe::{ApiErrorsCode, ApiErrorsType, StripeRequest};
use stripe_core::PaymentIntentStatus;

use crate::common::{authorize, idempotent, start, stripe_error};

#[tokio::test]
async fn same_key_same_params_replays_the_same_intent() {
    let emu = start().await;
    let first = authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("chk_1:authorize"));
    let a = first.send(&emu.client).await.unwrap();
    let b = authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("chk_1:authorize"))
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(a.id, b.id);

    let raw = emu
        .post_form(
            "/v1/payment_intents",
            &[("amount", "5000"), ("currency", "usd")],
        )
        .header("Idempotency-Key", "raw-key")
        .send()
        .await
        .unwrap();
    assert!(raw.headers().get("idempotent-replayed").is_none());
    let again = emu
        .post_form(
            "/v1/payment_intents",
            &[("currency", "usd"), ("amount", "5000")],
        )
        .header("Idempotency-Key", "raw-key")
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");

    let ledger = emu.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 2);
    assert_eq!(ledger["counters"]["idempotent_replays"], 2);
    assert_eq!(
        ledger["payment_intents"][0]["idempotency_key"],
        "chk_1:authorize"
    );
}

#[tokio::test]
async fn keys_are_scoped_per_api_key() {
    let emu = start().await;
    let other = stripe::ClientBuilder::new("sk_test_other")
        .url(emu.handle.base_url.clone())
        .build()
        .unwrap();
    let a = authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("k"))
        .send(&emu.client)
        .await;
    let b = authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("k"))
        .send(&other)
        .await;
    assert_ne!(a.unwrap().id, b.unwrap().id);
}

#[tokio::test]
async fn same_key_different_params_is_an_idempotency_error() {
    let emu = start().await;
    authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("k1"))
        .send(&emu.client)
        .await
        .unwrap();
    let (err, status) = stripe_error(
        authorize(6000, "pm_card_visa")
            .customize()
            .request_strategy(idempotent("k1"))
            .send(&emu.client)
            .await,
    );
    assert_eq!((status, err.type_), (400, ApiErrorsType::IdempotencyError));
    assert_eq!(emu.ledger().await["counters"]["payment_intents_created"], 1);
}

#[tokio::test]
async fn injected_500_changes_nothing_and_the_retry_creates_one_intent() {
    let emu = start().await;
    emu.control(
        "/_emulator/faults",
        json!({"kind": "server_error", "count": 1, "path_prefix": "/v1/payment_intents", "method": "POST"}),
    )
    .await;
    let attempt = || {
        authorize(5000, "pm_card_visa")
            .customize()
            .request_strategy(idempotent("chk_9"))
    };
    let (err, status) = stripe_error(attempt().send(&emu.client).await);
    assert_eq!((status, err.type_), (500, ApiErrorsType::ApiError));
    assert_eq!(emu.ledger().await["counters"]["payment_intents_created"], 0);

    let pi = attempt().send(&emu.client).await.unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    let ledger = emu.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 1);
    assert_eq!(ledger["counters"]["faults_injected"], 1);
    assert_eq!(ledger["totals"]["usd"]["authorized"], 5000);
}

#[tokio::test]
async fn lost_response_retry_returns_the_original_intent() {
    let emu = start().await;
    emu.control(
        "/_emulator/faults",
        json!({"kind": "lost_response", "path_prefix": "/v1/payment_intents"}),
    )
    .await;
    let attempt = || {
        authorize(5000, "pm_card_visa")
            .customize()
            .request_strategy(idempotent("chk_lost"))
    };
    let (_, status) = stripe_error(attempt().send(&emu.client).await);
    assert_eq!(status, 500);
    let ledger = emu.ledger().await;
    assert_eq!(
        ledger["counters"]["payment_intents_created"], 1,
        "Stripe did it; only the answer was lost"
    );
    let created = ledger["payment_intents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let pi = attempt().send(&emu.client).await.unwrap();
    assert_eq!(pi.id.as_str(), created);
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    let ledger = emu.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 1);
    assert_eq!(ledger["totals"]["usd"]["authorized"], 5000);
}

#[tokio::test]
async fn declines_are_replayed_too() {
    let emu = start().await;
    let attempt = || {
        authorize(5000, "pm_card_chargeDeclined")
            .customize()
            .request_strategy(idempotent("d1"))
    };
    let (first, _) = stripe_error(attempt().send(&emu.client).await);
    let (second, status) = stripe_error(attempt().send(&emu.client).await);
    assert_eq!(status, 402);
    assert_eq!(first.charge, second.charge);
    assert_eq!(emu.ledger().await["counters"]["payment_intents_created"], 1);
}

#[tokio::test]
async fn rate_limits_and_delays() {
    let emu = start().await;
    emu.control(
        "/_emulator/faults",
        json!({"kind": "rate_limit", "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let (err, status) = stripe_error(authorize(5000, "pm_card_visa").send(&emu.client).await);
        assert_eq!((status, err.code), (429, Some(ApiErrorsCode::RateLimit)));
    }
    authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();

    emu.control(
        "/_emulator/delays",
        json!({"millis": 400, "path_prefix": "/v1/payment_intents"}),
    )
    .await;
    let started = Instant::now();
    authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));

    let cleared = emu
        .http
        .delete(emu.handle.url("/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    let started = Instant::now();
    authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn reset_forgets_everything() {
    let emu = start().await;
    authorize(5000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("r"))
        .send(&emu.client)
        .await
        .unwrap();
    emu.control("/_emulator/reset", json!({})).await;
    let ledger = emu.ledger().await;
    assert_eq!(ledger["payment_intents"], json!([]));
    authorize(6000, "pm_card_visa")
        .customize()
        .request_strategy(idempotent("r"))
        .send(&emu.client)
        .await
        .unwrap();
    assert_eq!(emu.ledger().await["counters"]["payment_intents_created"], 1);
}
