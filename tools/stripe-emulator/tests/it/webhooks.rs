//! Webhooks: signed so that `stripe_webhook::Webhook::construct_event` accepts them, parsed
//! into the right event objects, retried when the receiver fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;
use stripe_core::payment_intent::{CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent};
use stripe_core::refund::CreateRefund;
use stripe_emulator::Config;
use stripe_types::Currency;
use stripe_webhook::{Event, EventObject, Webhook, WebhookError};
use tokio::sync::mpsc;

use crate::common::{KEY, authorize, start, start_with};

const SECRET: &str = "whsec_test_secret";

/// A delivery as the receiver saw it.
struct Received {
    signature: String,
    body: String,
}

/// A local webhook receiver answering `fail_first` 500s before 200s.
struct Receiver {
    url: String,
    deliveries: mpsc::UnboundedReceiver<Received>,
    hits: Arc<AtomicU32>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<Received>,
    hits: Arc<AtomicU32>,
    fail_first: u32,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let hit = state.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = state.tx.send(Received { signature, body });
    if hit <= state.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    async fn start(fail_first: u32) -> Self {
        let (tx, deliveries) = mpsc::unbounded_channel();
        let hits = Arc::new(AtomicU32::new(0));
        let state = ReceiverState {
            tx,
            hits: hits.clone(),
            fail_first,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/webhooks/stripe", post(receive))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            deliveries,
            hits,
        }
    }

    /// The next delivery, verified with `secret`.
    async fn next_event(&mut self, secret: &str) -> Event {
        let received = tokio::time::timeout(Duration::from_secs(5), self.deliveries.recv())
            .await
            .expect("a delivery within 5 s")
            .expect("receiver open");
        Webhook::construct_event(&received.body, &received.signature, secret)
            .unwrap_or_else(|e| panic!("event does not verify/parse: {e:?}\n{}", received.body))
    }

    /// Verified events until every type in `wanted` has been seen, keyed by type.
    async fn collect(&mut self, secret: &str, wanted: &[&str]) -> HashMap<String, Event> {
        let mut seen = HashMap::new();
        while !wanted.iter().all(|w| seen.contains_key(*w)) {
            let event = self.next_event(secret).await;
            seen.insert(event.type_.as_str().to_owned(), event);
        }
        seen
    }
}

#[tokio::test]
async fn events_are_signed_and_parse_into_typed_objects() {
    let mut receiver = Receiver::start(0).await;
    let emu = start_with(Config::for_tests().with_webhook(receiver.url.clone(), SECRET)).await;

    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    CapturePaymentIntent::new(pi.id.clone())
        .amount_to_capture(4000)
        .send(&emu.client)
        .await
        .unwrap();
    CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .amount(500)
        .send(&emu.client)
        .await
        .unwrap();
    let charge = pi.latest_charge.as_ref().unwrap().id().as_str().to_owned();
    let dispute = emu
        .control(
            &format!("/_emulator/charges/{charge}/dispute"),
            json!({"reason": "fraudulent"}),
        )
        .await;
    let (status, fetched) = emu
        .get(&format!("/v1/disputes/{}", dispute["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (status.as_u16(), &fetched["status"]),
        (200, &json!("needs_response"))
    );
    let declined = authorize(5000, "pm_card_chargeDeclined")
        .send(&emu.client)
        .await;
    assert!(declined.is_err());
    let three_ds = authorize(5000, "pm_card_authenticationRequired")
        .send(&emu.client)
        .await
        .unwrap();
    CancelPaymentIntent::new(three_ds.id)
        .send(&emu.client)
        .await
        .unwrap();

    let events = receiver
        .collect(
            SECRET,
            &[
                "payment_intent.created",
                "charge.succeeded",
                "payment_intent.amount_capturable_updated",
                "charge.captured",
                "payment_intent.succeeded",
                "refund.created",
                "charge.refunded",
                "charge.dispute.created",
                "charge.failed",
                "payment_intent.payment_failed",
                "payment_intent.requires_action",
                "payment_intent.canceled",
            ],
        )
        .await;

    let succeeded = &events["payment_intent.succeeded"];
    let EventObject::PaymentIntentSucceeded(object) = &succeeded.data.object else {
        panic!("wrong object")
    };
    assert_eq!(
        (object.id.as_str(), object.amount_received),
        (pi.id.as_str(), 4000)
    );
    assert!(!succeeded.livemode && succeeded.pending_webhooks == 1);
    let request = succeeded.request.as_ref().expect("request");
    assert!(
        request
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("req_"))
    );

    assert!(
        matches!(&events["charge.succeeded"].data.object, EventObject::ChargeSucceeded(c) if !c.captured)
    );
    assert!(
        matches!(&events["charge.captured"].data.object, EventObject::ChargeCaptured(c) if c.amount_captured == 4000)
    );
    assert!(
        matches!(&events["charge.refunded"].data.object, EventObject::ChargeRefunded(c) if c.amount_refunded == 1500)
    );
    assert!(
        matches!(&events["refund.created"].data.object, EventObject::RefundCreated(r) if r.amount == 500)
    );
    assert!(matches!(
        &events["charge.dispute.created"].data.object,
        EventObject::ChargeDisputeCreated(d) if d.charge.id().as_str() == charge && d.amount == 3500
    ));
    assert!(
        matches!(&events["payment_intent.payment_failed"].data.object, EventObject::PaymentIntentPaymentFailed(p) if p.last_payment_error.is_some())
    );
    assert!(
        matches!(&events["payment_intent.requires_action"].data.object, EventObject::PaymentIntentRequiresAction(p) if p.next_action.is_some())
    );
    assert!(matches!(
        &events["payment_intent.canceled"].data.object,
        EventObject::PaymentIntentCanceled(_)
    ));
    assert!(
        matches!(&events["payment_intent.amount_capturable_updated"].data.object, EventObject::PaymentIntentAmountCapturableUpdated(p) if p.amount_capturable == 5000)
    );
    assert!(matches!(
        &events["payment_intent.created"].data.object,
        EventObject::PaymentIntentCreated(_)
    ));
    assert!(
        matches!(&events["charge.failed"].data.object, EventObject::ChargeFailed(c) if c.failure_code.as_deref() == Some("card_declined"))
    );
}

#[tokio::test]
async fn a_wrong_secret_does_not_verify() {
    let mut receiver = Receiver::start(0).await;
    let emu = start_with(Config::for_tests().with_webhook(receiver.url.clone(), SECRET)).await;
    authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    let received = receiver.deliveries.recv().await.unwrap();
    assert!(Webhook::construct_event(&received.body, &received.signature, SECRET).is_ok());
    let wrong = Webhook::construct_event(&received.body, &received.signature, "whsec_other");
    assert!(matches!(wrong, Err(WebhookError::BadSignature)));
}

/// Polls the delivery log until `done` holds for the attempts so far.
async fn attempts_until(
    emu: &crate::common::Emulator,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let (_, log) = emu.get("/_emulator/webhook_deliveries").await;
        let attempts = log["attempts"].as_array().cloned().unwrap_or_default();
        if done(&attempts) {
            return attempts;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("delivery log never reached the expected state");
}

#[tokio::test]
async fn failing_receivers_get_retries_until_success() {
    let mut receiver = Receiver::start(2).await;
    let emu = start_with(Config::for_tests().with_webhook(receiver.url.clone(), SECRET)).await;
    CreatePaymentIntent::new(5000, Currency::USD)
        .send(&emu.client)
        .await
        .unwrap();

    let attempts = attempts_until(&emu, |a| a.iter().any(|x| x["delivered"] == true)).await;
    let statuses: Vec<_> = attempts.iter().map(|a| a["status"].as_u64()).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 3);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(receiver.next_event(SECRET).await.id.as_str().to_owned());
    }
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every retry carries the same event"
    );
    let (_, event) = emu.get(&format!("/v1/events/{}", ids[0])).await;
    assert_eq!(event["pending_webhooks"], 0);
}

#[tokio::test]
async fn delivery_gives_up_after_the_configured_attempts() {
    let receiver = Receiver::start(u32::MAX).await;
    let emu = start_with(Config::for_tests().with_webhook(receiver.url.clone(), SECRET)).await;
    CreatePaymentIntent::new(5000, Currency::USD)
        .send(&emu.client)
        .await
        .unwrap();

    let attempts = attempts_until(&emu, |a| a.len() >= 5).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, log) = emu.get("/_emulator/webhook_deliveries").await;
    assert_eq!(
        log["attempts"].as_array().map(Vec::len),
        Some(5),
        "bounded at max_attempts"
    );
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 5);
    let event_id = attempts[0]["event_id"].as_str().unwrap();
    let (_, event) = emu.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(event["pending_webhooks"], 1);
}

#[tokio::test]
async fn registered_endpoints_get_their_enabled_events() {
    let mut receiver = Receiver::start(0).await;
    let emu = start().await;
    let response = emu
        .post_form(
            "/v1/webhook_endpoints",
            &[
                ("url", &receiver.url),
                ("enabled_events[0]", "payment_intent.succeeded"),
            ],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let endpoint: serde_json::Value = response.json().await.unwrap();
    assert_eq!(endpoint["object"], "webhook_endpoint");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let pi = authorize(5000, "pm_card_visa")
        .send(&emu.client)
        .await
        .unwrap();
    CapturePaymentIntent::new(pi.id.clone())
        .send(&emu.client)
        .await
        .unwrap();
    let event = receiver.next_event(&secret).await;
    assert_eq!(event.type_.as_str(), "payment_intent.succeeded");
    assert_eq!(
        receiver.hits.load(Ordering::SeqCst),
        1,
        "other event types are not sent"
    );

    let (status, list) = emu.get("/v1/events?type=payment_intent.*&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"][0]["type"], "payment_intent.succeeded",
        "newest first"
    );
    assert_eq!(
        list["data"][1]["type"],
        "payment_intent.amount_capturable_updated"
    );
    assert_eq!(list["has_more"], true);
    let (status, fetched) = emu.get(&format!("/v1/events/{}", event.id.as_str())).await;
    assert_eq!(
        (status.as_u16(), fetched["id"].as_str()),
        (200, Some(event.id.as_str()))
    );

    let deleted = emu
        .http
        .delete(emu.handle.url(&format!(
            "/v1/webhook_endpoints/{}",
            endpoint["id"].as_str().unwrap()
        )))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let (status, _) = emu.get("/v1/events/evt_missing").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_configured_endpoint_receives_only_its_enabled_events() {
    let mut receiver = Receiver::start(0).await;
    let emu = start_with(
        Config::for_tests()
            .with_webhook(receiver.url.clone(), SECRET)
            .with_webhook_events(&["payment_intent.amount_capturable_updated"]),
    )
    .await;

    // An authorization makes payment_intent.created, charge.succeeded and
    // payment_intent.amount_capturable_updated; the endpoint asked for the last one only,
    // so each authorization's first delivery is that one.
    for amount in [5000, 6000] {
        authorize(amount, "pm_card_visa")
            .send(&emu.client)
            .await
            .unwrap();
        let event = receiver.next_event(SECRET).await;
        assert_eq!(
            event.type_.as_str(),
            "payment_intent.amount_capturable_updated",
            "after authorizing {amount}"
        );
    }
}
