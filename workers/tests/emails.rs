//! The email worker against a real SMTP server (aiosmtpd, testkit/smtp_sink.py), fed
//! through the outbox and the relay like production.

use std::time::Duration;

use cartwright_shared::money::Minor;
use cartwright_shared::outbox;
use cartwright_shared::queue::work_queues;
use cartwright_testkit::broker::{self, QueueEnv, RabbitNode, eventually};
use cartwright_testkit::logs::Captured;
use cartwright_testkit::smtp::{SmtpSink, read_eml_dir};
use cartwright_testkit::{config, demo_checkout};
use cartwright_workers::notify;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A parsed email: recipients, subject, and its plain-text and HTML parts.
#[derive(Debug)]
struct Mail {
    to: String,
    from: String,
    subject: String,
    message_id: String,
    text: String,
    html: String,
}

fn parse(raw: &[u8]) -> Mail {
    let mail = mailparse::parse_mail(raw).expect("a MIME message");
    let header = |name: &str| {
        mail.headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    let part = |mime: &str| {
        mail.subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .unwrap_or_else(|| panic!("no {mime} part"))
            .get_body()
            .expect("decodable part")
    };
    assert_eq!(mail.ctype.mimetype, "multipart/alternative");
    Mail {
        to: header("To"),
        from: header("From"),
        subject: header("Subject"),
        message_id: header("Message-ID"),
        text: part("text/plain"),
        html: part("text/html"),
    }
}

/// The workers' logs in the test output (shown when a test fails).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "info,lapin=warn".into()))
        .with_test_writer()
        .try_init();
}

struct Setup {
    env: QueueEnv,
    sink: SmtpSink,
    _node: RabbitNode,
}

/// A RabbitMQ node of the test's own: the shared one stalls for minutes at a time when
/// many test runs on the machine create and expire hundreds of quorum queues.
async fn queue_env() -> (QueueEnv, RabbitNode) {
    let node = RabbitNode::start().await;
    (QueueEnv::new(&node.url()).await, node)
}

async fn setup() -> Setup {
    logs();
    let sink = SmtpSink::start().await;
    let (mut env, node) = queue_env().await;
    let mut vars = sink.env();
    vars.push(("EMAIL_FROM".into(), "Cartwright <orders@shop.test>".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let notifications = config(&env.app.database_url, &vars).notifications;
    let (emails, _) = notify::build(&notifications, env.app.pool.clone()).expect("notifications");
    env.spawn_relay();
    env.spawn_handler(emails);
    Setup {
        env,
        sink,
        _node: node,
    }
}

/// Submits the demo checkout for `email`; returns the 202 body.
async fn checkout(env: &QueueEnv, email: &str) -> Value {
    let mut body = demo_checkout();
    body["customer"]["email"] = json!(email);
    let response = env.app.submit(&format!("k-{email}"), &body).await;
    assert_eq!(response.status(), 202);
    response.json().await.expect("json")
}

async fn emit(env: &QueueEnv, event: &str, checkout_id: &str, payload: Value) -> uuid::Uuid {
    let mut tx = env.app.pool.begin().await.expect("begin");
    let id = outbox::enqueue(&mut tx, event, checkout_id, &payload)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    id
}

async fn wait_for_messages(sink: &SmtpSink, n: usize) -> Vec<Mail> {
    eventually(WAIT, &format!("{n} emails at the SMTP server"), || async {
        sink.messages().len() >= n
    })
    .await;
    sink.messages().iter().map(|m| parse(m)).collect()
}

/// Gives the worker time to do something it should not (send a duplicate).
async fn wait_for_sent(env: &QueueEnv) {
    eventually(WAIT, "the email to be marked sent", || async {
        env.scalar("SELECT count(*) FROM emails_sent WHERE state = 'sent'")
            .await
            == 1
    })
    .await;
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

fn usd(minor: i64) -> String {
    Minor(minor).for_display("usd")
}

fn cents(decimal: &Value) -> i64 {
    Minor::parse_decimal(decimal.as_str().expect("amount"))
        .expect("amount")
        .0
}

#[tokio::test]
async fn every_template_arrives_with_its_content() {
    let Setup { env, sink, _node } = setup().await;
    let body = checkout(&env, "jane@example.com").await;
    let id = body["id"].as_str().unwrap().to_owned();
    let total = usd(cents(&body["total"]));
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    let first = orders[0]["number"].as_str().unwrap().to_owned();
    let second = orders[1]["number"].as_str().unwrap().to_owned();
    let first_total = usd(cents(&orders[0]["total"]));

    let received = wait_for_messages(&sink, 1).await.remove(0);
    assert!(received.to.contains("jane@example.com"), "{received:?}");
    assert!(received.to.contains("Jane Doe"));
    assert!(received.from.contains("orders@shop.test"));
    assert_eq!(
        received.subject,
        format!("We received your order ({total})")
    );
    assert!(total.starts_with('$'));
    for part in [&received.text, &received.html] {
        assert!(part.contains(&total), "total {total} in {part}");
        assert!(part.contains(&first) && part.contains(&second));
        assert!(
            part.contains("Nordwind") || part.contains("nordwind"),
            "{part}"
        );
    }

    emit(&env, "payment.failed", &id, json!({"checkout_id": id, "reason": "Your card was declined.", "decline_code": "generic_decline"})).await;
    emit(&env, "order.placed", &id, json!({"checkout_id": id, "order_number": first, "store_id": "x", "store_order_number": "RTL-7781"})).await;
    emit(&env, "order.failed", &id, json!({"checkout_id": id, "order_number": second, "store_id": "x", "reason": "out_of_stock"})).await;
    emit(&env, "order.cancelled", &id, json!({"checkout_id": id, "order_number": second, "store_id": "x", "reason": "ops: customer called"})).await;
    // The payment job's own order.cancelled names no order: it only wakes settlement.
    emit(&env, "order.cancelled", &id, json!({"checkout_id": id})).await;
    emit(&env, "order.shipped", &id, json!({"checkout_id": id, "order_number": first, "tracking_number": "1Z999AA10123456784", "carrier": "ups"})).await;
    emit(&env, "payment.refunded", &id, json!({"checkout_id": id, "order_number": first, "amount": 1250, "stripe_refund_id": "re_1"})).await;
    emit(
        &env,
        "checkout.completed",
        &id,
        json!({"checkout_id": id, "captured": 26846, "currency": "usd"}),
    )
    .await;
    let mails = wait_for_messages(&sink, 8).await;
    settle().await;
    assert_eq!(
        sink.messages().len(),
        8,
        "one email per event that names what it is about"
    );
    let find = |prefix: &str| {
        mails
            .iter()
            .find(|m| m.subject.contains(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no email {prefix:?} in {:#?}",
                    mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
                )
            })
    };
    for mail in &mails {
        assert!(mail.to.contains("jane@example.com"));
        assert!(
            mail.message_id.ends_with("@cartwright>"),
            "{}",
            mail.message_id
        );
    }

    let failed = find("Your payment did not go through");
    for part in [&failed.text, &failed.html] {
        assert!(part.contains("Your card was declined."));
        assert!(
            !part.contains("generic_decline"),
            "no Stripe code for the customer"
        );
        assert!(part.contains(&total));
    }

    let placed = find("confirmed your order RTL-7781");
    assert!(placed.text.contains(&first_total) && placed.html.contains(&first_total));

    let not_placed = find("We could not place your");
    assert!(not_placed.subject.contains("you will not be charged"));
    assert!(
        not_placed.text.contains("out of stock"),
        "{}",
        not_placed.text
    );

    let cancelled = find("was cancelled");
    assert!(cancelled.subject.contains("you will not be charged"));
    for part in [&cancelled.text, &cancelled.html] {
        assert!(part.contains(&second), "{part}");
        assert!(
            !part.contains("customer called"),
            "ops' own reason is not the customer's to read: {part}"
        );
    }

    let shipped = find("has shipped");
    let link = "https://www.ups.com/track?tracknum=1Z999AA10123456784";
    assert!(shipped.text.contains(link), "{}", shipped.text);
    assert!(
        shipped.html.contains(&format!("href=\"{link}\"")),
        "{}",
        shipped.html
    );

    let refund = find("Refund of $12.50 issued");
    assert!(refund.text.contains("$12.50") && refund.html.contains(&first));

    let receipt = find("Your receipt: $268.46 charged");
    assert!(receipt.text.contains("Charged: $268.46"));
    assert!(receipt.html.contains("$268.46"));

    let rows = env
        .scalar("SELECT count(*) FROM emails_sent WHERE state = 'sent'")
        .await;
    assert_eq!(
        rows, 8,
        "and nothing claimed for the cancel that names no order"
    );
    assert_eq!(env.scalar("SELECT count(*) FROM emails_sent").await, 8);
    env.stop().await;
}

#[tokio::test]
async fn a_redelivered_event_sends_nothing_twice() {
    let Setup { env, sink, _node } = setup().await;
    checkout(&env, "jane@example.com").await;
    wait_for_messages(&sink, 1).await;
    wait_for_sent(&env).await;

    // The broker redelivers after the send, as if the worker died before its ack:
    // publish the same message id again. `emails_sent` is the worker's inbox.
    env.redeliver("emails", "checkout.submitted").await;
    let url = env
        .vars
        .iter()
        .find(|(k, _)| k == "AMQP_URL")
        .unwrap()
        .1
        .clone();
    let connection = broker::connect(&url).await;
    let queue = env.topology.work("emails");
    eventually(WAIT, "the redelivery to be taken", || async {
        env.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await
            == 0
            && broker::queue_len(&connection, &queue).await == 0
    })
    .await;
    settle().await;
    assert_eq!(sink.messages().len(), 1, "the redelivery sent nothing");
    assert_eq!(env.scalar("SELECT count(*) FROM emails_sent").await, 1);
    env.stop().await;
}

#[tokio::test]
async fn a_crash_while_sending_is_not_sent_again_but_dead_lettered() {
    let Setup {
        mut env,
        sink,
        _node,
    } = setup().await;
    env.spawn_archiver_for(vec![work_queues::emails()]);
    checkout(&env, "jane@example.com").await;
    wait_for_messages(&sink, 1).await;
    wait_for_sent(&env).await;
    // As if the worker died between the SMTP send and marking the row `sent`.
    sqlx::query("UPDATE emails_sent SET state = 'sending', sent_at = NULL")
        .execute(&env.app.pool)
        .await
        .unwrap();
    env.redeliver("emails", "checkout.submitted").await;
    eventually(WAIT, "a dead letter for the in-doubt email", || async {
        env.scalar("SELECT count(*) FROM dead_letters WHERE queue = 'emails'")
            .await
            == 1
    })
    .await;
    let error: String = sqlx::query_scalar("SELECT error FROM dead_letters")
        .fetch_one(&env.app.pool)
        .await
        .unwrap();
    assert!(error.contains("may have been delivered"), "{error}");
    assert_eq!(sink.messages().len(), 1, "at most once: not sent again");
    env.stop().await;
}

#[tokio::test]
async fn a_451_then_250_delivers_once() {
    let Setup { env, sink, _node } = setup().await;
    checkout(&env, "jane+tempfail@example.com").await;
    let mails = wait_for_messages(&sink, 1).await;
    assert!(mails[0].to.contains("jane+tempfail@example.com"));
    eventually(WAIT, "the email to be marked sent", || async {
        env.scalar("SELECT count(*) FROM emails_sent WHERE state = 'sent'")
            .await
            == 1
    })
    .await;
    settle().await;
    assert_eq!(sink.messages().len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_550_ends_in_the_dead_letter_queue_with_the_reply() {
    let Setup {
        mut env,
        sink,
        _node,
    } = setup().await;
    env.spawn_archiver_for(vec![work_queues::emails()]);
    checkout(&env, "jane+reject@example.com").await;
    eventually(WAIT, "the refused email in dead_letters", || async {
        env.scalar("SELECT count(*) FROM dead_letters WHERE queue = 'emails'")
            .await
            == 1
    })
    .await;
    let (error, attempts): (String, i32) =
        sqlx::query_as("SELECT error, attempts FROM dead_letters")
            .fetch_one(&env.app.pool)
            .await
            .unwrap();
    assert!(
        error.contains("550") && error.contains("mailbox unavailable"),
        "{error}"
    );
    assert_eq!(attempts, 1, "a permanent refusal is not retried");
    let state: String = sqlx::query_scalar("SELECT state FROM emails_sent")
        .fetch_one(&env.app.pool)
        .await
        .unwrap();
    assert_eq!(state, "failed");
    assert!(sink.messages().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn without_an_smtp_server_emails_are_eml_files() {
    logs();
    let dir = std::env::temp_dir().join(format!("cwt-mail-{}", uuid::Uuid::new_v4()));
    let (mut env, _node) = queue_env().await;
    let dir_text = dir.to_string_lossy().into_owned();
    let notifications =
        config(&env.app.database_url, &[("EMAIL_DIR", dir_text.as_str())]).notifications;
    assert!(notifications.smtp.is_none());
    let (emails, _) = notify::build(&notifications, env.app.pool.clone()).expect("notifications");
    env.spawn_relay();
    env.spawn_handler(emails);
    checkout(&env, "jane@example.com").await;
    eventually(WAIT, "an .eml file", || async {
        !read_eml_dir(&dir).is_empty()
    })
    .await;
    let mail = parse(&read_eml_dir(&dir)[0]);
    assert!(mail.to.contains("jane@example.com"));
    assert!(mail.subject.starts_with("We received your order ($"));
    env.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The logs say which checkout an email was about, never the person: not their
/// address, not their name.
#[tokio::test]
async fn the_logs_name_the_checkout_not_the_customer() {
    let captured = Captured::install();
    let Setup { env, sink, _node } = setup().await;
    let mut body = demo_checkout();
    body["customer"]["email"] = json!("prudence.probe@example.com");
    body["customer"]["name"] = json!("Prudence Probe");
    body["shipping_address"]["name"] = json!("Prudence Probe");
    let response = env.app.submit("k-logs", &body).await;
    assert_eq!(response.status(), 202);
    let checkout: Value = response.json().await.unwrap();
    let id = checkout["id"].as_str().unwrap();
    wait_for_messages(&sink, 1).await;
    eventually(WAIT, "the email to be logged as sent", || async {
        captured.text().contains("email sent")
    })
    .await;
    let logs = captured.text();
    let sent = logs
        .lines()
        .find(|l| l.contains("email sent"))
        .expect("the line");
    assert!(sent.contains(&format!("checkout {id}")), "{sent}");
    for personal in ["prudence.probe", "Prudence", "Probe"] {
        assert!(!logs.contains(personal), "{personal} logged:\n{logs}");
    }
    env.stop().await;
}
