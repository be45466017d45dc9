//! The manual placement queue through the ops API: leases, placing and failing, the
//! storefront's view of a placed order, the events and the audit trail.

use std::time::Duration;

use cartwright_shared::api_keys::Role;
use cartwright_shared::placement::manual_queue;
use cartwright_shared::status::{self, Transition};
use cartwright_testkit::TestApp;
use serde_json::{Value, json};

async fn queued_order(app: &TestApp, key: &str) -> String {
    app.manual_queue_order(key).await
}

async fn post(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn outbox(app: &TestApp, message_type: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE message_type = $1 ORDER BY id")
        .bind(message_type)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_ops_users_claiming_at_once_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let bob = app.key("ops-bob", Role::Ops).await;
    for round in 0..5 {
        let number = queued_order(&app, &format!("race-{round}")).await;
        let path = format!("/v1/ops/placements/{number}/claim");
        let (a, b) = tokio::join!(
            post(&app, &app.ops_key, &path, None),
            post(&app, &bob, &path, None)
        );
        let (winner, loser) = match (a.0, b.0) {
            (200, 409) => (("key:ops-alice", a.1), b.1),
            (409, 200) => (("key:ops-bob", b.1), a.1),
            other => panic!("expected one 200 and one 409, got {other:?}: {a:?} {b:?}"),
        };
        assert_eq!(winner.1["claimed_by"], winner.0);
        assert_eq!(loser["error"]["code"], "already_claimed");
        let message = loser["error"]["message"].as_str().unwrap();
        assert!(message.contains(winner.0), "names the holder: {message}");
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM manual_placements WHERE order_number = $1 AND claimed_by IS NOT NULL",
        )
        .bind(&number)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(held, 1);
    }
}

#[tokio::test]
async fn an_expired_lease_returns_the_order_to_the_queue() {
    let app = TestApp::spawn_with(&[("PLACEMENT_LEASE_SECS", "1")]).await;
    let bob = app.key("ops-bob", Role::Ops).await;
    let number = queued_order(&app, "lease").await;
    let claim = format!("/v1/ops/placements/{number}/claim");

    let (status, lease) = post(&app, &app.ops_key, &claim, None).await;
    assert_eq!(status, 200, "{lease}");
    let (status, _) = post(&app, &bob, &claim, None).await;
    assert_eq!(status, 409, "held while the lease lasts");
    let (_, listing) = get(&app, &app.ops_key, "/v1/ops/placements?status=claimed").await;
    assert_eq!(listing["placements"][0]["claimed_by"], "key:ops-alice");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    // A claim checks expiry itself; the sweep clears stale claims for the listing.
    let (_, listing) = get(&app, &app.ops_key, "/v1/ops/placements?status=waiting").await;
    assert_eq!(listing["placements"][0]["order_number"], number.as_str());
    assert_eq!(listing["placements"][0]["claimed_by"], Value::Null);
    let released = manual_queue::release_expired(&app.pool, "system:placement-sweep")
        .await
        .unwrap();
    assert_eq!(released, 1);
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ops_audit WHERE action = 'placement.lease_expired' AND target = $1",
    )
    .bind(format!("order:{number}"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audit, 1);

    let (status, lease) = post(&app, &bob, &claim, None).await;
    assert_eq!(status, 200, "claimable again: {lease}");
    assert_eq!(lease["claimed_by"], "key:ops-bob");
    // Alice's lease is gone: she can neither renew nor place.
    let (status, error) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/renew"),
        None,
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("not_lease_holder"))
    );
    let (status, renewed) = post(
        &app,
        &bob,
        &format!("/v1/ops/placements/{number}/renew"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
}

#[tokio::test]
async fn placed_or_failed_by_anyone_but_the_holder_is_refused() {
    let app = TestApp::spawn().await;
    let bob = app.key("ops-bob", Role::Ops).await;
    let number = queued_order(&app, "holder").await;
    let placed = format!("/v1/ops/placements/{number}/placed");
    let failed = format!("/v1/ops/placements/{number}/failed");
    let body = json!({"store_order_number": "R-1"});

    // Unclaimed: nobody may place it.
    let (status, error) = post(&app, &app.ops_key, &placed, Some(body.clone())).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("not_lease_holder"))
    );

    let (status, _) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, error) = post(&app, &bob, &placed, Some(body.clone())).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("not_lease_holder"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key:ops-alice")
    );
    let (status, _) = post(&app, &bob, &failed, Some(json!({"reason": "no"}))).await;
    assert_eq!(status, 409);
    let (status, _) = post(
        &app,
        &bob,
        &format!("/v1/ops/placements/{number}/renew"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        outbox(&app, "order.placed").await.len(),
        0,
        "nothing emitted"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
        .bind(&number)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "awaiting_manual");
}

#[tokio::test]
async fn a_placed_order_reaches_the_storefront_and_every_step_is_audited() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "placed").await;
    let (status, _) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, order) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/placed"),
        Some(json!({"store_order_number": "NW-55821", "total_paid": "190.20"})),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "placed");

    // The storefront sees the retailer's order number.
    let (status, seen) = get(&app, &app.storefront_key, &format!("/v1/orders/{number}")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["store_order_number"], "NW-55821");
    assert_eq!(seen["tracking_number"], Value::Null);
    let checkout_id = seen["checkout_id"].as_str().unwrap().to_owned();

    let placed = outbox(&app, "order.placed").await;
    assert_eq!(
        placed,
        vec![
            json!({"checkout_id": checkout_id, "order_number": number, "store_id": seen["store"],
            "store_order_number": "NW-55821", "total_paid": 19020})
        ]
    );
    // It left the queue; it cannot be placed twice.
    let (_, open) = get(&app, &app.ops_key, "/v1/ops/placements").await;
    assert_eq!(open["placements"], json!([]));
    let (_, done) = get(&app, &app.ops_key, "/v1/ops/placements?status=placed").await;
    assert_eq!(done["placements"][0]["resolved_by"], "key:ops-alice");
    let (status, error) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/placed"),
        Some(json!({"store_order_number": "NW-2"})),
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("placement_closed"))
    );

    // Delivered before shipping is refused; then tracking, then delivered.
    let delivered = format!("/v1/ops/orders/{number}/delivered");
    let (status, error) = post(&app, &app.ops_key, &delivered, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("invalid_status"))
    );
    let (status, order) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/orders/{number}/tracking"),
        Some(json!({"tracking_number": "1Z999AA10123456784", "carrier": "UPS"})),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["tracking_number"], "1Z999AA10123456784");
    assert_eq!(
        outbox(&app, "order.shipped").await,
        vec![json!({"checkout_id": checkout_id, "order_number": number,
            "tracking_number": "1Z999AA10123456784", "carrier": "UPS"})]
    );
    let (status, order) = post(&app, &app.ops_key, &delivered, None).await;
    assert_eq!(status, 200);
    assert_eq!(order["status"], "delivered");
    assert_eq!(
        outbox(&app, "order.delivered").await,
        vec![json!({"checkout_id": checkout_id, "order_number": number})]
    );

    // Ops' history lists every step with its actor.
    let (_, seen) = get(&app, &app.storefront_key, &format!("/v1/orders/{number}")).await;
    assert_eq!(seen["carrier"], "UPS");
    let (_, seen) = get(&app, &app.ops_key, &format!("/v1/orders/{number}")).await;
    let steps: Vec<(String, String)> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["to"].as_str().unwrap().to_owned(),
                h["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let tail: Vec<(&str, &str)> = steps[steps.len() - 4..]
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        tail,
        vec![
            ("awaiting_manual", "system:placement-manual"),
            ("placed", "key:ops-alice"),
            ("shipped", "key:ops-alice"),
            ("delivered", "key:ops-alice"),
        ]
    );
    let history = seen["history"].as_array().unwrap();
    assert_eq!(
        history[history.len() - 3]["reason"],
        "retailer order NW-55821"
    );
    assert_eq!(history[history.len() - 3]["from"], "awaiting_manual");
}

/// A storefront reads what happened to its customer's order and when: never who did it
/// (an ops person's key, a system component), why (a retailer's order number, a dispute
/// id), or ops' notes on an unchanged status. Ops read all of it.
#[tokio::test]
async fn a_storefront_sees_status_changes_without_actors_reasons_or_ops_notes() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "customer-view").await;
    let claim = format!("/v1/ops/placements/{number}/claim");
    assert_eq!(post(&app, &app.ops_key, &claim, None).await.0, 200);
    let (status, placed) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/placed"),
        Some(json!({"store_order_number": "NW-61234"})),
    )
    .await;
    assert_eq!(status, 200, "{placed}");
    let checkout_id = placed["checkout_id"].as_str().unwrap().to_owned();
    // A dispute flag, written as the stripe-events worker writes it.
    let mut conn = app.pool.acquire().await.unwrap();
    status::record(
        &mut conn,
        Transition {
            checkout_id: &checkout_id,
            order_number: Some(&number),
            from: Some("placed"),
            to: "placed",
            actor: "system:stripe-events",
            reason: Some("Stripe dispute du_secret42 opened: ops must respond"),
        },
    )
    .await
    .unwrap();

    let order_path = format!("/v1/orders/{number}");
    let checkout_path = format!("/v1/checkouts/{checkout_id}");
    for path in [&order_path, &checkout_path] {
        let (status, seen) = get(&app, &app.storefront_key, path).await;
        assert_eq!(status, 200, "{seen}");
        let text = seen.to_string();
        for secret in [
            "ops-alice",
            "du_secret42",
            "system:",
            "key:",
            "retailer order",
        ] {
            assert!(!text.contains(secret), "{path} shows {secret:?}: {text}");
        }
        for entry in seen["history"].as_array().unwrap() {
            let mut keys: Vec<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            keys.retain(|k| *k != "order_number");
            assert_eq!(keys, ["at", "from", "to"], "{path}: {entry}");
            assert_ne!(entry["from"], entry["to"], "{path}: a note is not a change");
        }
    }
    let (_, seen) = get(&app, &app.storefront_key, &order_path).await;
    let steps: Vec<&str> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["pending_payment", "awaiting_manual", "placed"]);

    let (_, full) = get(&app, &app.ops_key, &order_path).await;
    let history = full["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "{full}");
    assert_eq!(history[2]["actor"], "key:ops-alice");
    assert_eq!(history[2]["reason"], "retailer order NW-61234");
    assert_eq!(
        (history[3]["from"].as_str(), history[3]["to"].as_str()),
        (Some("placed"), Some("placed"))
    );
    assert_eq!(
        history[3]["reason"],
        "Stripe dispute du_secret42 opened: ops must respond"
    );
    let (_, full) = get(&app, &app.ops_key, &checkout_path).await;
    assert!(full.to_string().contains("du_secret42"), "{full}");
}

/// "195.46" → 19546.
fn cents(amount: &Value) -> i64 {
    amount.as_str().unwrap().replace('.', "").parse().unwrap()
}

fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Claims a queued order and records it placed with `total_paid` (minor units).
async fn placed_for(app: &TestApp, number: &str, total_paid: i64) -> (u16, Value) {
    let (status, _) = post(
        app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    post(
        app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/placed"),
        Some(json!({"store_order_number": "NW-77", "total_paid": amount(total_paid)})),
    )
    .await
}

async fn alerts_about(app: &TestApp, number: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT detail FROM ops_audit WHERE action = 'alert.total_over_expected' AND target = $1",
    )
    .bind(format!("order:{number}"))
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The retailer charged more than the customer paid, beyond the store's tolerance (2 %
/// by default): it was bought, so the order is placed, but finance must see it.
#[tokio::test]
async fn a_total_paid_over_the_tolerance_is_placed_flagged_and_alerted() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "overpaid").await;
    let (_, before) = get(&app, &app.ops_key, &format!("/v1/orders/{number}")).await;
    let expected = cents(&before["total"]);
    assert_eq!(before.get("retailer_charge"), None, "nothing paid yet");
    let paid = expected + expected * 3 / 100;

    let (status, order) = placed_for(&app, &number, paid).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "placed");
    let charge = json!({
        "expected_total": amount(expected),
        "total_paid": amount(paid),
        "difference": amount(paid - expected),
        "over_tolerance": true,
    });
    assert_eq!(order["retailer_charge"], charge);
    let (_, seen) = get(&app, &app.ops_key, &format!("/v1/orders/{number}")).await;
    assert_eq!(seen["status"], "placed");
    assert_eq!(seen["retailer_charge"], charge);

    let alerts = alerts_about(&app, &number).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["detail"]["over_by"], amount(paid - expected));
    let events = outbox(&app, "ops.alert").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "total_over_expected");
    assert_eq!(events[0]["target"], format!("order:{number}"));
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT paid_over_expected FROM orders WHERE number = $1")
            .bind(&number)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(flag, Some(paid - expected));

    // What the business paid its retailer is not the storefront's to see.
    let (status, seen) = get(&app, &app.storefront_key, &format!("/v1/orders/{number}")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["status"], "placed");
    assert_eq!(seen.get("retailer_charge"), None, "{seen}");
    let checkout = seen["checkout_id"].as_str().unwrap();
    let (_, seen) = get(
        &app,
        &app.storefront_key,
        &format!("/v1/checkouts/{checkout}"),
    )
    .await;
    assert!(!seen.to_string().contains("retailer_charge"), "{seen}");
}

#[tokio::test]
async fn a_total_paid_within_the_tolerance_raises_no_alert() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "paid-within").await;
    let (_, before) = get(&app, &app.ops_key, &format!("/v1/orders/{number}")).await;
    let expected = cents(&before["total"]);
    // Exactly at the 2 % limit (rounded down to the cent) is within.
    let paid = expected + expected * 2 / 100;

    let (status, order) = placed_for(&app, &number, paid).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "placed");
    assert_eq!(order["retailer_charge"]["over_tolerance"], false);
    assert_eq!(
        order["retailer_charge"]["difference"],
        amount(paid - expected)
    );
    assert_eq!(alerts_about(&app, &number).await, Vec::<Value>::new());
    assert_eq!(outbox(&app, "ops.alert").await, Vec::<Value>::new());
}

#[tokio::test]
async fn failed_with_a_reason_emits_order_failed() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "failed").await;
    post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    let (status, order) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/failed"),
        Some(json!({"reason": "discontinued at the retailer"})),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "failed");
    let failed = outbox(&app, "order.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["order_number"], number.as_str());
    assert_eq!(failed[0]["reason"], "discontinued at the retailer");
    assert_eq!(failed[0]["store_id"], order["store"]);
    assert_eq!(failed[0]["checkout_id"], order["checkout_id"]);
    let last = order["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["to"].as_str(),
            last["actor"].as_str(),
            last["reason"].as_str()
        ),
        (
            Some("failed"),
            Some("key:ops-alice"),
            Some("discontinued at the retailer")
        )
    );
    let (_, failed_list) = get(&app, &app.ops_key, "/v1/ops/placements?status=failed").await;
    assert_eq!(
        failed_list["placements"][0]["failure_reason"],
        "discontinued at the retailer"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_naming_the_field() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "bad").await;
    post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    let placed = format!("/v1/ops/placements/{number}/placed");
    for (body, code, field) in [
        (json!({}), "missing_field", "store_order_number"),
        (
            json!({"store_order_number": "  "}),
            "missing_field",
            "store_order_number",
        ),
        (
            json!({"store_order_number": 7}),
            "invalid_field",
            "store_order_number",
        ),
        (
            json!({"store_order_number": "R", "total_paid": "1.234"}),
            "invalid_field",
            "total_paid",
        ),
        (
            json!({"store_order_number": "R", "carrier": "UPS"}),
            "missing_field",
            "tracking_number",
        ),
        (
            json!({"store_order_number": "R", "tip": "x"}),
            "invalid_field",
            "tip",
        ),
    ] {
        let (status, error) = post(&app, &app.ops_key, &placed, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["error"]["code"], code, "{body}");
        assert_eq!(error["error"]["field"], field, "{body}");
    }
    let (status, error) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/failed"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("reason"))
    );
    let tracking = format!("/v1/ops/orders/{number}/tracking");
    let (status, error) = post(
        &app,
        &app.ops_key,
        &tracking,
        Some(json!({"carrier": "UPS"})),
    )
    .await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("tracking_number"))
    );
    let (status, error) = post(
        &app,
        &app.ops_key,
        &tracking,
        Some(json!({"tracking_number": "1", "carrier": "UPS"})),
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("invalid_status")),
        "not placed yet"
    );
    let (status, error) = get(&app, &app.ops_key, "/v1/ops/placements?status=lost").await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (422, Some("status"))
    );
    let (status, _) = get(&app, &app.ops_key, "/v1/ops/placements/MO-0000000000").await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &app.ops_key,
        "/v1/ops/placements/MO-0000000000/claim",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &app.storefront_key, "/v1/ops/placements").await;
    assert_eq!(status, 403);
    assert_eq!(outbox(&app, "order.placed").await.len(), 0);
}

#[tokio::test]
async fn instructions_list_what_to_buy_where_and_warn_of_moved_prices() {
    let app =
        TestApp::spawn_with(&[("PLACEMENT_CARD_REFERENCE", "Ops Amex (vault: cards/amex)")]).await;
    let number = queued_order(&app, "instructions").await;
    let (status, page) = get(&app, &app.ops_key, &format!("/v1/ops/placements/{number}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["retailer"]["website_url"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    assert_eq!(page["payment_card"], "Ops Amex (vault: cards/amex)");
    assert_eq!(page["shipping_address"]["line1"], "123 Main St");
    assert_eq!(page["expected_total"], page["order"]["total"]);
    assert_eq!(page["placement"]["reason"], "store_is_manual");
    assert_eq!(page["placement"]["status"], "waiting");
    assert_eq!(page["warnings"], json!([]));
    let item = &page["items"][0];
    assert!(item["quantity"].as_i64().unwrap() >= 1);
    assert_eq!(item["price_moved"], false);
    assert!(page["steps"].as_array().unwrap().len() >= 5);
    assert!(page["activity"][0]["action"] == "placement.queued");

    // The catalog price moves: the page warns.
    let sku = item["sku"].as_str().unwrap().to_owned();
    let response = app
        .client
        .put(app.url(&format!("/v1/ops/catalog/{sku}")))
        .bearer_auth(&app.ops_key)
        .json(&json!({"price": "999.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, page) = get(&app, &app.ops_key, &format!("/v1/ops/placements/{number}")).await;
    assert_eq!(page["items"][0]["price_moved"], true);
    assert_eq!(page["items"][0]["catalog_price"], "999.00");
    let warning = page["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains(&sku) && warning.contains("999.00"),
        "{warning}"
    );
}

#[tokio::test]
async fn stats_count_orders_and_the_queue() {
    let app = TestApp::spawn().await;
    let number = queued_order(&app, "stats-1").await;
    queued_order(&app, "stats-2").await;
    post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/claim"),
        None,
    )
    .await;
    post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{number}/placed"),
        Some(json!({"store_order_number": "X1"})),
    )
    .await;
    let (status, stats) = get(&app, &app.ops_key, "/v1/ops/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["orders_by_status"]["placed"], 1);
    assert_eq!(stats["orders_by_status"]["awaiting_manual"], 1);
    assert_eq!(stats["queue"]["waiting"], 1);
    assert_eq!(stats["queue"]["claimed"], 0);
    assert!(
        stats["queue"]["oldest_waiting_age_seconds"]
            .as_i64()
            .unwrap()
            >= 0
    );
    assert_eq!(stats["placements_last_hour"], 1);
    assert_eq!(stats["placements_per_hour"][0]["placed"], 1);
    assert!(stats["orders_by_store"].as_object().unwrap().len() >= 2);
}

/// A claim starts a purchase, so it needs the order still `awaiting_manual` and its
/// checkout's authorization able to pay for it. Before the fix both claims succeeded,
/// and the person bought an order that could not be marked placed or charged.
#[tokio::test]
async fn an_order_that_can_no_longer_be_paid_for_cannot_be_claimed() {
    let app = TestApp::spawn().await;
    let lapsing = queued_order(&app, "lapsing").await;
    sqlx::query(
        "UPDATE checkouts SET capture_before = now() + interval '2 hours'
         WHERE id = (SELECT checkout_id FROM orders WHERE number = $1)",
    )
    .bind(&lapsing)
    .execute(&app.pool)
    .await
    .unwrap();
    let (status, body) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{lapsing}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "authorization_ending");

    // Failed meanwhile (as the capture-deadline guard did before it closed queue rows).
    let failed = queued_order(&app, "failed-meanwhile").await;
    sqlx::query("UPDATE orders SET status = 'failed' WHERE number = $1")
        .bind(&failed)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = post(
        &app,
        &app.ops_key,
        &format!("/v1/ops/placements/{failed}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "invalid_status");
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM manual_placements WHERE claimed_by IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, 0);
}

/// A line's options are the SKU's as ops set them when it was ordered: the instructions
/// list them, and a later catalog edit does not change what was ordered.
#[tokio::test]
async fn instructions_list_each_lines_options_as_ordered() {
    let app = TestApp::spawn().await;
    let set = |sku: &'static str, options: Value| {
        let app = &app;
        async move {
            let (status, body) = app
                .send_json(
                    reqwest::Method::PUT,
                    &format!("/v1/ops/catalog/{sku}"),
                    &app.ops_key,
                    &json!({ "options": options }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    set("NORD-1001", json!({"size": "42", "colour": "navy"})).await;
    let number = queued_order(&app, "options").await;
    let path = format!("/v1/ops/placements/{number}");
    let (status, page) = get(&app, &app.ops_key, &path).await;
    assert_eq!(status, 200, "{page}");
    let item = &page["items"][0];
    assert_eq!(item["sku"], "NORD-1001");
    assert_eq!(item["options"], json!({"colour": "navy", "size": "42"}));
    // The stored line and the order view agree with the page.
    let stored: Value =
        sqlx::query_scalar("SELECT options FROM order_items WHERE order_number = $1 AND sku = $2")
            .bind(&number)
            .bind("NORD-1001")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, item["options"]);

    // Ops change the SKU's options afterwards: what was ordered stays as it was.
    set("NORD-1001", json!({"size": "44"})).await;
    let (_, page) = get(&app, &app.ops_key, &path).await;
    assert_eq!(
        page["items"][0]["options"],
        json!({"colour": "navy", "size": "42"})
    );

    // A SKU without options: an empty object, not null.
    let other: Value = sqlx::query_scalar(
        "SELECT options FROM order_items WHERE sku = 'RACK-2001' ORDER BY order_number LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(other, json!({}));
}
