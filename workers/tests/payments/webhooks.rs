//! `POST /v1/webhooks/stripe` and the stripe-events worker: signatures, de-duplication,
//! events in Stripe's documented format, late and out-of-order events, events parked
//! while the payment job is in flight, disputes.

use std::collections::HashMap;

use cartwright_testkit::broker::eventually;
use serde_json::{Value, json};
use stripe_core::PaymentIntentCaptureMethod;
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_types::Currency;

use cartwright_workers::payments::Payments;
use cartwright_workers::payments::{authorize, checkout};
use cartwright_workers::stripe_events::{self, StripeEvents};

use crate::common::{WAIT, WEBHOOK_SECRET, World, now, signature};

fn event(id: &str, event_type: &str, object_id: &str) -> String {
    json!({
        "id": id, "object": "event", "type": event_type, "created": now(),
        "data": {"object": {"id": object_id, "object": "payment_intent"}}
    })
    .to_string()
}

#[tokio::test]
async fn forged_stale_and_unsigned_webhooks_are_refused_and_not_stored() {
    let world = World::idle().await;
    let body = event("evt_forged", "payment_intent.succeeded", "pi_x");
    let cases = [
        (
            "forged",
            Some(signature("whsec_someone_else", now(), &body)),
        ),
        ("stale", Some(signature(WEBHOOK_SECRET, now() - 301, &body))),
        ("unsigned", None),
        ("malformed", Some("t=abc,v1=nothex".to_owned())),
    ];
    for (what, header) in cases {
        let response = world.post_webhook(&body, header).await;
        assert_eq!(response.status(), 400, "{what}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_signature", "{what}");
    }
    // Signed for another body: the raw bytes are what is signed.
    let other = signature(WEBHOOK_SECRET, now(), &body.replace("pi_x", "pi_y"));
    assert_eq!(world.post_webhook(&body, Some(other)).await.status(), 400);
    assert_eq!(world.scalar("SELECT count(*) FROM stripe_events").await, 0);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM outbox WHERE message_type = 'stripe.event.received'")
            .await,
        0
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_duplicate_event_is_stored_once_and_answered_200() {
    let world = World::idle().await;
    let body = event("evt_dup", "payment_intent.succeeded", "pi_x");
    for expected_duplicate in [false, true] {
        let response = world
            .post_webhook(&body, Some(signature(WEBHOOK_SECRET, now(), &body)))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap()["duplicate"],
            expected_duplicate
        );
    }
    assert_eq!(world.scalar("SELECT count(*) FROM stripe_events").await, 1);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM outbox WHERE message_type = 'stripe.event.received'")
            .await,
        1
    );
    world.env.stop().await;
}

#[tokio::test]
async fn late_and_out_of_order_events_change_nothing_wrongly() {
    let world = World::start().await;
    let (id, _) = world.submit("pm_card_authenticationRequired").await;
    world.wait_for(&id, "requires_action").await;
    let pi = world.payment_intent_id(&id).await;

    // A "failed" event that is not true (Stripe says requires_action): re-reading wins.
    let lie = event("evt_early_failed", "payment_intent.payment_failed", &pi);
    let response = world
        .post_webhook(&lie, Some(signature(WEBHOOK_SECRET, now(), &lie)))
        .await;
    assert_eq!(response.status(), 200);
    eventually(WAIT, "the early event to be handled", || async {
        world
            .scalar("SELECT count(*) FROM inbox WHERE consumer = 'stripe-events'")
            .await
            >= 1
    })
    .await;
    assert_eq!(world.status(&id).await, "requires_action");

    world
        .control(
            &format!("/_emulator/payment_intents/{pi}/3ds"),
            json!({"outcome": "succeed"}),
        )
        .await;
    world.wait_for(&id, "authorized").await;
    let history = world
        .scalar(&format!("SELECT count(*) FROM status_history WHERE checkout_id = '{id}' AND order_number IS NULL"))
        .await;

    // A late requires_action event after the authorization: nothing moves back. The
    // webhook sees the checkout past waiting and keeps it for the record only.
    let late = event(
        "evt_late_requires_action",
        "payment_intent.requires_action",
        &pi,
    );
    let response = world
        .post_webhook(&late, Some(signature(WEBHOOK_SECRET, now(), &late)))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM stripe_events WHERE id = 'evt_late_requires_action'")
            .await,
        1
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM outbox WHERE aggregate_id = 'evt_late_requires_action'")
            .await,
        0,
        "not queued: it could change nothing"
    );
    assert_eq!(world.status(&id).await, "authorized");
    let after = world
        .scalar(&format!("SELECT count(*) FROM status_history WHERE checkout_id = '{id}' AND order_number IS NULL"))
        .await;
    assert_eq!(after, history);
    // The emulator's own events were each stored once, however often delivered.
    assert_eq!(
        world.scalar("SELECT count(*) FROM stripe_events").await,
        world
            .scalar("SELECT count(DISTINCT id) FROM stripe_events")
            .await
    );
    world.env.stop().await;
}

/// An event as Stripe documents it (https://docs.stripe.com/api/events/object), with
/// fields and an API version the emulator never sends.
fn documented_event(pi: &str) -> String {
    json!({
        "id": "evt_3PXgZk2eZvKYlo2C0QmXjvAb",
        "object": "event",
        "account": "acct_1032D82eZvKYlo2C",
        "api_version": "2019-02-19",
        "context": null,
        "created": now(),
        "data": {
            "object": {
                "id": pi,
                "object": "payment_intent",
                "amount": 26846,
                "amount_capturable": 26846,
                "amount_details": {"tip": {}},
                "amount_received": 0,
                "capture_method": "manual",
                "currency": "usd",
                "metadata": {"checkout_id": "chk_whatever"},
                "next_action": null,
                "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
                "status": "requires_capture",
                "some_future_field": {"nested": [1, 2, 3]}
            },
            "previous_attributes": {"amount_capturable": 0, "status": "requires_action"}
        },
        "livemode": false,
        "pending_webhooks": 2,
        "request": {"id": "req_Ab12Cd34Ef56Gh", "idempotency_key": "0b0f3a4e-79a3-4c44-bd5e-3a35f2b2b6c1"},
        "type": "payment_intent.amount_capturable_updated"
    })
    .to_string()
}

#[tokio::test]
async fn an_event_in_stripes_documented_format_is_accepted_and_applied() {
    let world = World::without_emulator_webhooks().await;
    let (id, _, pi) = world.waiting_for_3ds().await;
    // The customer passes 3-D Secure; only this (documented-format) event tells us.
    world.pass_3ds(&pi).await;
    assert_eq!(world.status(&id).await, "requires_action");
    let body = documented_event(&pi);
    let response = world
        .post_webhook(&body, Some(signature(WEBHOOK_SECRET, now(), &body)))
        .await;
    assert_eq!(response.status(), 200);
    world.wait_for(&id, "authorized").await;
    let stored: (String, String) = sqlx::query_as(
        "SELECT type, object_id FROM stripe_events WHERE id = 'evt_3PXgZk2eZvKYlo2C0QmXjvAb'",
    )
    .fetch_one(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        ("payment_intent.amount_capturable_updated".to_owned(), pi)
    );
    world.env.stop().await;
}

#[tokio::test]
async fn a_dispute_flags_the_orders_for_ops() {
    let world = World::start().await;
    let (id, orders) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    for number in &orders {
        world.order_outcome(&id, number, true).await;
    }
    world.wait_for(&id, "completed").await;
    let pi = world.payment_intent_id(&id).await;
    let intent = world
        .stripe()
        .payment_intent(&pi)
        .await
        .expect("PaymentIntent");
    let charge = intent
        .latest_charge
        .as_ref()
        .expect("a charge")
        .id()
        .as_str()
        .to_owned();
    world
        .control(
            &format!("/_emulator/charges/{charge}/dispute"),
            json!({"reason": "fraudulent"}),
        )
        .await;
    eventually(WAIT, "the dispute to reach ops", || async {
        world
            .scalar("SELECT count(*) FROM ops_audit WHERE action = 'stripe.dispute_opened'")
            .await
            == 1
    })
    .await;
    let notes = world
        .scalar(&format!(
            "SELECT count(*) FROM status_history WHERE checkout_id = '{id}' AND reason LIKE 'Stripe dispute%'"
        ))
        .await;
    assert_eq!(notes, orders.len() as i64);
    world.env.stop().await;
}

/// Found by the fault drill: once an abandoned 3-D Secure checkout expires, a customer
/// who finishes the challenge after all must not have money held for nothing.
#[tokio::test]
async fn finishing_3d_secure_after_the_checkout_expired_releases_the_authorization() {
    let world = World::start().await;
    let (id, _, pi) = world.waiting_for_3ds().await;
    // The expiry's own job cancels the PaymentIntent too, and it could win the race
    // with the customer below (the emulator then refuses 3-D Secure on a cancelled
    // PaymentIntent): cancels wait two seconds, so the customer finishes first.
    world
        .control(
            "/_emulator/delays",
            json!({"millis": 2000, "path_prefix": format!("/v1/payment_intents/{pi}/cancel")}),
        )
        .await;
    world.env.app.run_out_holds(&id).await;
    assert_eq!(world.status(&id).await, "expired");

    world
        .control(
            &format!("/_emulator/payment_intents/{pi}/3ds"),
            json!({"outcome": "succeed"}),
        )
        .await;
    eventually(WAIT, "the late authorization to be cancelled", || async {
        let ledger = world.ledger().await;
        ledger["payment_intents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == pi.as_str() && p["status"] == "canceled")
    })
    .await;
    assert_eq!(world.status(&id).await, "expired");
    world.env.stop().await;
}

/// Found by the fault drill: Stripe authorized, the payment worker's answer was lost;
/// its retry read the checkout `pending`, then the webhook authorized it while Stripe
/// replayed the same PaymentIntent to the worker, which took it for an unwanted one and
/// cancelled the checkout's own authorization.
#[tokio::test]
async fn a_retried_authorization_the_webhook_applied_meanwhile_is_kept() {
    let world = World::without_emulator_webhooks().await;
    let (id, _) = world.submit("pm_card_visa").await;
    world.wait_for(&id, "authorized").await;
    let pool = &world.env.app.pool;
    // Rewind to "the answer was lost": the checkout pending, its submission redelivered.
    sqlx::query("UPDATE checkouts SET status = 'pending', payment_intent_id = NULL WHERE id = $1")
        .bind(&id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM inbox WHERE consumer = 'payments'")
        .execute(pool)
        .await
        .unwrap();
    let ledger = world.ledger().await;
    let pi = world
        .stripe()
        .payment_intent(ledger["payment_intents"][0]["id"].as_str().unwrap())
        .await
        .unwrap();
    // Stripe answers the retry slowly; meanwhile the webhook's effect lands.
    world
        .control(
            "/_emulator/delays",
            json!({"millis": 1500, "path_prefix": "/v1/payment_intents"}),
        )
        .await;
    let submitted: String = sqlx::query_scalar(
        "SELECT payload::text FROM outbox WHERE aggregate_id = $1 AND message_type = 'checkout.submitted'",
    )
    .bind(&id)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    cartwright_shared::outbox::enqueue(
        &mut tx,
        "checkout.submitted",
        &id,
        &serde_json::from_str::<Value>(&submitted).unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut tx = pool.begin().await.unwrap();
    let current = checkout::lock(&mut tx, &id).await.unwrap().unwrap();
    authorize::apply_intent(&mut tx, &current, &pi, "system:stripe-webhook")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    eventually(
        WAIT,
        "the payment worker to handle the redelivery",
        || async {
            world
                .scalar("SELECT count(*) FROM inbox WHERE consumer = 'payments'")
                .await
                >= 1
        },
    )
    .await;
    let ledger = world.ledger().await;
    assert_eq!(
        ledger["payment_intents"][0]["status"], "requires_capture",
        "{ledger}"
    );
    assert_eq!(world.status(&id).await, "authorized");
    world.env.stop().await;
}

#[tokio::test]
async fn a_payment_intent_naming_a_checkout_but_not_its_amount_is_not_used() {
    let mut world = World::idle().await;
    world.env.spawn_relay();
    world.env.spawn_handler(StripeEvents {
        stripe: world.stripe(),
    });
    let (id, _) = world.submit("pm_card_visa").await;
    // Someone else's PaymentIntent for 1.00 carrying this checkout's id.
    let foreign = CreatePaymentIntent::new(100, Currency::USD)
        .capture_method(PaymentIntentCaptureMethod::Manual)
        .confirm(true)
        .payment_method("pm_card_visa")
        .metadata(HashMap::from([("checkout_id".to_owned(), id.clone())]))
        .send(&world.outside_client())
        .await
        .unwrap();
    let body = event(
        "evt_foreign",
        "payment_intent.amount_capturable_updated",
        foreign.id.as_str(),
    );
    let response = world
        .post_webhook(&body, Some(signature(WEBHOOK_SECRET, now(), &body)))
        .await;
    assert_eq!(response.status(), 200);
    eventually(WAIT, "the event to be handled", || async {
        world
            .scalar(
                "SELECT count(*) FROM inbox i JOIN outbox o ON o.message_id = i.message_id
                     WHERE i.consumer = 'stripe-events' AND o.aggregate_id = 'evt_foreign'",
            )
            .await
            == 1
    })
    .await;
    assert_eq!(world.status(&id).await, "pending");
    let taken: Option<String> =
        sqlx::query_scalar("SELECT payment_intent_id FROM checkouts WHERE id = $1")
            .bind(&id)
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    assert_eq!(taken, None);
    world.env.stop().await;
}

/// Parked events of a checkout, and the stripe-events worker's deliveries.
async fn parked_and_delivered(world: &World, checkout_id: &str) -> (i64, i64) {
    let parked = world
        .scalar(&format!(
            "SELECT count(*) FROM stripe_events_parked p JOIN stripe_events e ON e.id = p.event_id
             WHERE e.payload #>> '{{data,object,metadata,checkout_id}}' = '{checkout_id}'"
        ))
        .await;
    let delivered = world
        .scalar("SELECT count(*) FROM inbox WHERE consumer = 'stripe-events'")
        .await;
    (parked, delivered)
}

#[tokio::test]
async fn an_event_that_outruns_the_payment_job_is_parked_and_dropped_once_the_job_has_recorded_it()
{
    let mut world = World::idle().await;
    let (id, _) = world.submit("pm_card_visa").await;
    // Hold the checkout row: the payment worker's Stripe call goes through, and its
    // commit waits behind this lock while the emulator's webhook arrives.
    let blocker = world.hold_checkout(&id).await;
    world.env.spawn_relay();
    world.env.spawn_handler(Payments {
        stripe: world.stripe(),
    });
    world.env.spawn_handler(StripeEvents {
        stripe: world.stripe(),
    });
    eventually(WAIT, "the authorization's event to be parked", || async {
        parked_and_delivered(&world, &id).await.0 == 1
    })
    .await;
    blocker.rollback().await.unwrap();
    world.wait_for(&id, "authorized").await;

    world.env.spawn_task(stripe_events::sweep_parked);
    eventually(WAIT, "the sweep to take the parked event", || async {
        parked_and_delivered(&world, &id).await.0 == 0
    })
    .await;
    assert_eq!(
        parked_and_delivered(&world, &id).await,
        (0, 0),
        "dropped: the stripe-events worker never got it"
    );
    let authorized_by: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM status_history
         WHERE checkout_id = $1 AND order_number IS NULL AND to_status = 'authorized'",
    )
    .bind(&id)
    .fetch_all(&world.env.app.pool)
    .await
    .unwrap();
    assert_eq!(authorized_by, ["system:payments"]);
    world.env.stop().await;
}

#[tokio::test]
async fn a_parked_event_of_a_payment_job_that_never_finished_authorizes_the_checkout() {
    let mut world = World::idle().await;
    world.env.spawn_relay();
    world.env.spawn_handler(StripeEvents {
        stripe: world.stripe(),
    });
    let (id, _) = world.submit("pm_card_visa").await;
    let (total, currency): (i64, String) =
        sqlx::query_as("SELECT total, currency FROM checkouts WHERE id = $1")
            .bind(&id)
            .fetch_one(&world.env.app.pool)
            .await
            .unwrap();
    // What a payment job does before it dies uncommitted (no payment worker runs here,
    // so its job stays queued): the authorization at Stripe, under the job's own key.
    let pi = world
        .stripe()
        .authorize(&id, total, &currency, "pm_card_visa")
        .await
        .expect("authorized at Stripe");
    eventually(WAIT, "the authorization's event to be parked", || async {
        parked_and_delivered(&world, &id).await.0 == 1
    })
    .await;
    assert_eq!(world.status(&id).await, "pending");
    assert_eq!(
        parked_and_delivered(&world, &id).await.1,
        0,
        "not yet handed on"
    );

    world.env.spawn_task(stripe_events::sweep_parked);
    world.wait_for(&id, "authorized").await;
    assert_eq!(world.payment_intent_id(&id).await, pi.id.as_str());
    assert_eq!(parked_and_delivered(&world, &id).await.0, 0);
    world.env.stop().await;
}
