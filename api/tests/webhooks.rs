//! `POST /v1/webhooks/stripe` against hostile callers, at the API alone (the worker side,
//! and forged, stale, unsigned and duplicate events, are in workers/tests/payments/).
//!
//! What "refused" means for a replay: Stripe signs `"{t}.{body}"`, so a captured request
//! can only be sent again as it was. Outside the 300 s tolerance it is refused (400
//! `invalid_signature`); inside it, it is answered 200 `duplicate: true` (Stripe retries
//! anything else) and takes no effect a second time: the event is stored once, by its id,
//! and handed to the worker once.

use cartwright_api::stripe_signature::{TOLERANCE_SECS, sign};
use cartwright_testkit::TestApp;
use serde_json::{Value, json};

const SECRET: &str = "whsec_api_tests";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn header(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", hex::encode(sign(secret, t, body.as_bytes())))
}

fn event(id: &str) -> String {
    json!({
        "id": id, "object": "event", "type": "payment_intent.succeeded", "created": now(),
        "data": {"object": {"id": "pi_hostile", "object": "payment_intent"}}
    })
    .to_string()
}

async fn post(app: &TestApp, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

/// Stored events and the outbox messages that hand them to the worker.
async fn effects(app: &TestApp) -> (i64, i64) {
    let outbox: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE message_type = 'stripe.event.received'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (app.count("stripe_events").await, outbox)
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("STRIPE_WEBHOOK_SECRETS", SECRET)]).await
}

#[tokio::test]
async fn a_captured_request_replayed_takes_effect_once_and_is_refused_once_stale() {
    let app = spawn().await;
    let body = event("evt_replayed");
    let signature = header(SECRET, now(), &body);
    let (status, answer) = post(&app, &body, Some(&signature)).await;
    assert_eq!((status, &answer["duplicate"]), (200, &json!(false)));
    for _ in 0..3 {
        let (status, answer) = post(&app, &body, Some(&signature)).await;
        assert_eq!((status, &answer["duplicate"]), (200, &json!(true)));
    }
    assert_eq!(effects(&app).await, (1, 1));

    // The same request captured long ago: its timestamp is signed, so it cannot be freshened.
    let old = now() - TOLERANCE_SECS - 1;
    let stale = header(SECRET, old, &body);
    let (status, error) = post(&app, &body, Some(&stale)).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_signature");
    let old_signature = stale.split_once(",v1=").unwrap().1;
    let freshened = format!("t={},v1={old_signature}", now());
    let (status, error) = post(&app, &body, Some(&freshened)).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("invalid_signature"))
    );
    // A stale, never-seen event is refused too, not stored.
    let unseen = event("evt_stale_unseen");
    let (status, _) = post(&app, &unseen, Some(&header(SECRET, old, &unseen))).await;
    assert_eq!(status, 400);
    assert_eq!(effects(&app).await, (1, 1));
}

#[tokio::test]
async fn a_signature_from_the_future_is_refused() {
    let app = spawn().await;
    let body = event("evt_future");
    let future = header(SECRET, now() + TOLERANCE_SECS + 60, &body);
    let (status, error) = post(&app, &body, Some(&future)).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("invalid_signature"))
    );
    assert_eq!(effects(&app).await, (0, 0));
}

#[tokio::test]
async fn an_event_id_reused_with_another_body_does_not_overwrite_the_first() {
    let app = spawn().await;
    let first = event("evt_same_id");
    let (status, _) = post(&app, &first, Some(&header(SECRET, now(), &first))).await;
    assert_eq!(status, 200);
    let second = first.replace("pi_hostile", "pi_other");
    let (status, answer) = post(&app, &second, Some(&header(SECRET, now(), &second))).await;
    assert_eq!((status, &answer["duplicate"]), (200, &json!(true)));
    let object_id: String =
        sqlx::query_scalar("SELECT object_id FROM stripe_events WHERE id = 'evt_same_id'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(object_id, "pi_hostile");
    assert_eq!(effects(&app).await, (1, 1));
}

#[tokio::test]
async fn forged_missing_and_malformed_signatures_and_bad_signed_bodies_store_nothing() {
    let app = spawn().await;
    let body = event("evt_hostile");
    let t = now();
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no header", None, 400, "invalid_signature"),
        (
            "empty header",
            Some(String::new()),
            400,
            "invalid_signature",
        ),
        (
            "another secret",
            Some(header("whsec_forger", t, &body)),
            400,
            "invalid_signature",
        ),
        (
            "no timestamp",
            Some(format!("v1={}", "ab".repeat(32))),
            400,
            "invalid_signature",
        ),
        ("no v1", Some(format!("t={t}")), 400, "invalid_signature"),
        (
            "v0 only",
            Some(format!("t={t},v0={}", "ab".repeat(32))),
            400,
            "invalid_signature",
        ),
        (
            "not hex",
            Some(format!("t={t},v1=zz")),
            400,
            "invalid_signature",
        ),
        (
            "truncated",
            Some(header(SECRET, t, &body)[..30].to_owned()),
            400,
            "invalid_signature",
        ),
    ];
    for (what, signature, status, code) in cases {
        let (got, error) = post(&app, &body, signature.as_deref()).await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}"
        );
    }
    // Correctly signed, but not something to store: refused with a 4xx naming why.
    for (what, bad, status, code) in [
        ("not JSON", "{\"id\": ", 400, "malformed_json"),
        ("not an event", "{\"hello\": 1}", 422, "invalid_field"),
        (
            "a NUL in the event",
            "{\"id\": \"evt_\\u0000\", \"type\": \"x\"}",
            422,
            "invalid_field",
        ),
    ] {
        let (got, error) = post(&app, bad, Some(&header(SECRET, now(), bad))).await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}"
        );
    }
    assert_eq!(effects(&app).await, (0, 0));
}

#[tokio::test]
async fn without_a_configured_secret_every_webhook_is_refused() {
    let app = TestApp::spawn().await;
    let body = event("evt_no_secret");
    for secret in [SECRET, ""] {
        let (status, _) = post(&app, &body, Some(&header(secret, now(), &body))).await;
        assert_eq!(status, 400);
    }
    assert_eq!(effects(&app).await, (0, 0));
}

/// Stripe's events can be larger than the API's 64 KiB (an invoice with its lines), and
/// one refused with 413 is refused on every retry: lost. The route has its own 1 MiB.
#[tokio::test]
async fn a_signed_event_of_200_kib_is_stored_and_one_over_1_mib_is_refused_unread() {
    let app = spawn().await;
    let large = |id: &str, bytes: usize| {
        let mut body: Value = serde_json::from_str(&event(id)).unwrap();
        body["data"]["object"]["description"] = json!("x".repeat(bytes));
        body.to_string()
    };
    let body = large("evt_large", 200 * 1024);
    let (status, answer) = post(&app, &body, Some(&header(SECRET, now(), &body))).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(false)),
        "{answer}"
    );
    assert_eq!(effects(&app).await, (1, 1));

    // Correctly signed, so only its size refuses it.
    let body = large("evt_too_large", 1024 * 1024);
    assert!(body.len() > 1024 * 1024);
    let (status, error) = post(&app, &body, Some(&header(SECRET, now(), &body))).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{error}"
    );
    assert_eq!(effects(&app).await, (1, 1));
}
