//! Low-stock alerts end to end: intake reservations write `stock.low` in their
//! transaction, the relay publishes, the alert worker emails ops (a real SMTP server)
//! and calls the signed webhook, once per SKU and level until a restock. Ops alerts
//! (`ops.alert`) take the same path, once per event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cartwright_testkit::broker::{QueueEnv, RabbitNode, eventually};
use cartwright_testkit::smtp::SmtpSink;
use cartwright_testkit::{config, demo_checkout};
use cartwright_workers::notify;
use cartwright_workers::notify::alerts::signature;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);
const SKU: &str = "ALERT-1";
const SECRET: &str = "whsec_test";

/// A minimal HTTP server that records each POST (headers lower-cased, body) and answers 200.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/stock", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        let body = buf[end + 4..end + 4 + length].to_vec();
                        record.lock().unwrap().push((head, body));
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

async fn buy(env: &QueueEnv, key: &str, quantity: i64) -> reqwest::StatusCode {
    let mut body = demo_checkout();
    body["items"] = json!([{"sku": SKU, "quantity": quantity}]);
    env.app.submit(key, &body).await.status()
}

async fn put_sku(env: &QueueEnv, body: Value) -> reqwest::StatusCode {
    env.app
        .client
        .put(env.app.url(&format!("/v1/ops/catalog/{SKU}")))
        .bearer_auth(&env.app.ops_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn open_alerts(env: &QueueEnv) -> Vec<Value> {
    let body: Value = env
        .app
        .client
        .get(env.app.url("/v1/ops/alerts"))
        .bearer_auth(&env.app.ops_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["alerts"].as_array().unwrap().clone()
}

/// Every `stock.low` written so far has been handled by the alert worker.
async fn drained(env: &QueueEnv) {
    eventually(WAIT, "every stock.low event handled", || async {
        env.scalar("SELECT count(*) FROM outbox WHERE message_type = 'stock.low'")
            .await
            == env
                .scalar("SELECT count(*) FROM inbox WHERE consumer = 'alerts'")
                .await
    })
    .await;
}

fn subjects(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|raw| {
            let mail = mailparse::parse_mail(raw).unwrap();
            let to = mail
                .headers
                .iter()
                .find(|h| h.get_key_ref() == "To")
                .unwrap()
                .get_value();
            assert!(
                to.contains("ops@shop.test") && to.contains("buyer@shop.test"),
                "{to}"
            );
            mail.headers
                .iter()
                .find(|h| h.get_key_ref() == "Subject")
                .unwrap()
                .get_value()
        })
        .collect()
}

/// The alert worker and the relay on a RabbitMQ node of their own (the shared broker
/// stalls when many test runs churn queues), mailing `sink` and posting to `hook_url`.
async fn alert_worker(sink: &SmtpSink, hook_url: String) -> (RabbitNode, QueueEnv) {
    let node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    let mut vars = sink.env();
    vars.extend([
        (
            "OPS_ALERT_EMAILS".to_owned(),
            "ops@shop.test, buyer@shop.test".to_owned(),
        ),
        ("ALERT_WEBHOOK_URL".to_owned(), hook_url),
        ("ALERT_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
    ]);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_, alerts) = notify::build(
        &config(&env.app.database_url, &vars).notifications,
        env.app.pool.clone(),
    )
    .unwrap();
    env.spawn_relay();
    env.spawn_handler(alerts);
    (node, env)
}

#[tokio::test]
async fn concurrent_checkouts_alert_once_per_level_until_restocked() {
    let sink = SmtpSink::start().await;
    let (hook_url, hooks) = webhook_receiver().await;
    let (_node, env) = alert_worker(&sink, hook_url).await;

    let created = put_sku(
        &env,
        json!({"store": "nordwind", "title": "Alert Test Mug", "price": "10.00", "stock": 6, "low_stock_threshold": 3}),
    )
    .await;
    assert_eq!(created, 201);

    // Six concurrent checkouts of one unit each drain the SKU: 5, 4, 3 (low), 2, 1, 0 (out).
    let buys = (0..6).map(|i| {
        let env = &env;
        async move { buy(env, &format!("drain-{i}"), 1).await }
    });
    for status in futures::future::join_all(buys).await {
        assert_eq!(status, 202);
    }
    assert_eq!(buy(&env, "one-too-many", 1).await, 409);
    drained(&env).await;
    eventually(WAIT, "two alert emails", || async {
        sink.messages().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut sent = subjects(&sink);
    sent.sort();
    assert_eq!(
        sent.len(),
        2,
        "exactly one low and one out-of-stock alert: {sent:?}"
    );
    // Which of the low events (3, 2 or 1 left) opened the alert depends on timing.
    assert!(
        sent[0].starts_with(&format!("Low stock: {SKU} (")),
        "{sent:?}"
    );
    assert_eq!(sent[1], format!("Out of stock: {SKU} (0 left)"));
    let open = open_alerts(&env).await;
    let mut levels: Vec<&str> = open.iter().map(|a| a["level"].as_str().unwrap()).collect();
    levels.sort();
    assert_eq!(levels, ["low", "out"]);
    assert!(
        open.iter()
            .all(|a| a["emailed_at"].is_string() && a["webhook_sent_at"].is_string())
    );

    // The webhook got one signed POST per alert.
    {
        let hooks = hooks.lock().unwrap();
        assert_eq!(hooks.len(), 2);
        for (head, body) in hooks.iter() {
            let header = head
                .lines()
                .find_map(|l| l.strip_prefix("x-cartwright-signature:"))
                .expect("signature header")
                .trim()
                .to_owned();
            let t: u64 = header
                .strip_prefix("t=")
                .and_then(|r| r.split(',').next())
                .and_then(|t| t.parse().ok())
                .expect("timestamp");
            assert_eq!(header, signature(SECRET, t, body));
            let payload: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(payload["sku"], SKU);
            assert_eq!(payload["type"], "stock.low");
        }
    }

    // A restock above the threshold resolves both; stock 16 with 6 held leaves 10.
    assert_eq!(put_sku(&env, json!({"stock": 16})).await, 200);
    assert!(open_alerts(&env).await.is_empty());

    // A new drop (10 → 2) alerts again, once.
    assert_eq!(buy(&env, "second-drop-a", 4).await, 202);
    assert_eq!(buy(&env, "second-drop-b", 4).await, 202);
    drained(&env).await;
    eventually(WAIT, "the third alert email", || async {
        sink.messages().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sink.messages().len(), 3);
    let open = open_alerts(&env).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["level"], "low");
    assert_eq!(open[0]["available"], 2);
    assert_eq!(env.scalar("SELECT count(*) FROM stock_alerts").await, 3);
    env.stop().await;
}

/// An `ops.alert` (here: a settlement that cannot finish) reaches ops by email and by
/// the signed webhook, once, however often its event is delivered.
#[tokio::test]
async fn an_ops_alert_is_emailed_and_posted_once() {
    use cartwright_shared::ops_alert::{self, OpsAlert};

    let sink = SmtpSink::start().await;
    let (hook_url, hooks) = webhook_receiver().await;
    let (_node, env) = alert_worker(&sink, hook_url).await;

    let alert = OpsAlert {
        kind: "settlement_stuck".to_owned(),
        target: "checkout:ck_test".to_owned(),
        message: "Checkout ck_test could not be settled.".to_owned(),
        detail: json!({"error": "api_error (500)"}),
    };
    let mut tx = env.app.pool.begin().await.unwrap();
    ops_alert::raise(&mut tx, "system:payments", "ck_test", &alert)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    eventually(WAIT, "the alert email and webhook", || async {
        !sink.messages().is_empty() && !hooks.lock().unwrap().is_empty()
    })
    .await;
    // The same event delivered again (the inbox forgot it, the relay publishes it
    // again): the email is not sent twice; the webhook is called again with the same
    // `alert_id`, which the receiver de-duplicates on.
    let event_id: uuid::Uuid =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE message_type = 'ops.alert'")
            .fetch_one(&env.app.pool)
            .await
            .unwrap();
    env.redeliver("alerts", "ops.alert").await;
    eventually(WAIT, "the second delivery", || async {
        hooks.lock().unwrap().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    assert_eq!(
        subjects(&sink),
        ["Ops alert: settlement_stuck (checkout:ck_test)"]
    );
    let hooks = hooks.lock().unwrap().clone();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[0].1, hooks[1].1);
    let (head, body) = &hooks[0];
    let header = head
        .lines()
        .find_map(|l| l.strip_prefix("x-cartwright-signature:"))
        .expect("signature header")
        .trim()
        .to_owned();
    let t: u64 = header
        .strip_prefix("t=")
        .and_then(|r| r.split(',').next())
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    assert_eq!(header, signature(SECRET, t, body));
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["type"], "ops.alert");
    assert_eq!(payload["kind"], "settlement_stuck");
    assert_eq!(payload["target"], "checkout:ck_test");
    assert_eq!(payload["alert_id"], event_id.to_string());
    assert_eq!(
        env.scalar("SELECT count(*) FROM ops_audit WHERE action = 'alert.settlement_stuck'")
            .await,
        1
    );
    env.stop().await;
}

/// Orders entering the manual queue reach ops as one notice per period listing what
/// waits: two orders make one email; a third inside the period waits for the period to
/// pass; a quiet queue sends nothing more. The scheduler's check runs far more often than
/// the period, as in production.
#[tokio::test]
async fn orders_entering_the_manual_queue_reach_ops_once_per_period() {
    use cartwright_shared::placement::queue_notice;
    use cartwright_workers::scheduler;

    const PERIOD: Duration = Duration::from_secs(4);
    const SUBJECT: &str = "Ops alert: orders_waiting (manual_queue)";
    // The demo checkouts may also bring low-stock alerts: only the notices count here.
    let notices = |sink: &SmtpSink| -> Vec<Vec<u8>> {
        sink.messages()
            .into_iter()
            .filter(|raw| {
                mailparse::parse_mail(raw)
                    .unwrap()
                    .headers
                    .iter()
                    .any(|h| h.get_key_ref() == "Subject" && h.get_value() == SUBJECT)
            })
            .collect()
    };
    let sink = SmtpSink::start().await;
    let (hook_url, hooks) = webhook_receiver().await;
    let (_node, mut env) = alert_worker(&sink, hook_url).await;
    let first = env.app.manual_queue_order("notice-1").await;
    let second = env.app.manual_queue_order("notice-2").await;
    env.spawn_task(|pool, shutdown| async move {
        scheduler::every(Duration::from_millis(100), shutdown, || {
            scheduler::notify_orders_waiting(&pool, PERIOD)
        })
        .await;
    });
    eventually(WAIT, "the first notice", || async {
        notices(&sink).len() == 1
    })
    .await;
    let third = env.app.manual_queue_order("notice-3").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(notices(&sink).len(), 1, "a second notice inside the period");
    eventually(
        WAIT,
        "the second notice, once the period is over",
        || async { notices(&sink).len() == 2 },
    )
    .await;
    // Nothing new enters: nothing more is sent, however often the check runs.
    tokio::time::sleep(PERIOD + Duration::from_secs(1)).await;

    assert_eq!(notices(&sink).len(), 2);
    let bodies: Vec<Value> = hooks
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap())
        .filter(|body| body["kind"] == queue_notice::KIND)
        .collect();
    assert_eq!(bodies.len(), 2);
    let listed = |body: &Value| -> Vec<(String, bool)> {
        body["detail"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["order_number"].as_str().unwrap().to_owned(),
                    o["new"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(bodies[0]["target"], queue_notice::TARGET);
    assert_eq!(
        listed(&bodies[0]),
        [(first.clone(), true), (second.clone(), true)]
    );
    assert_eq!(bodies[0]["detail"]["waiting"], 2);
    assert_eq!(
        listed(&bodies[1]),
        [
            (first.clone(), false),
            (second, false),
            (third.clone(), true)
        ]
    );
    assert_eq!(bodies[1]["detail"]["new"], 1);
    assert!(
        bodies[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("3 orders wait in the manual queue, 1 new since the last notice"),
        "{}",
        bodies[1]["message"]
    );
    // The email names the orders too.
    let raw = &notices(&sink)[1];
    let mail = mailparse::parse_mail(raw).unwrap();
    let text = mail
        .subparts
        .first()
        .map_or_else(|| mail.get_body().unwrap(), |part| part.get_body().unwrap());
    assert!(text.contains(&first) && text.contains(&third), "{text}");
    // The period held between the two, by the database's clock.
    let apart: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(at) - min(at))::float8 FROM ops_audit
         WHERE action = 'alert.orders_waiting'",
    )
    .fetch_one(&env.app.pool)
    .await
    .unwrap();
    assert!(apart >= PERIOD.as_secs_f64(), "notices {apart} s apart");
    env.stop().await;
}
