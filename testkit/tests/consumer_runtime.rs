//! The consumer runtime against the real RabbitMQ and PostgreSQL: retries at growing
//! delays, dead letters after the maximum attempts, replay, unparseable messages, and
//! acks in runs that a slow message does not hold up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cartwright_testkit::broker::{self, QueueEnv, SHARED_BROKER, eventually};
use cartwright_testkit::logs::Captured;
use cartwright_testkit::test_handler::{self, Behaviour, TestHandler};
use chrono::{DateTime, Utc};

#[tokio::test]
async fn a_handler_failing_three_times_is_retried_at_growing_delays_then_succeeds() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::FailFirst(3),
    });
    env.spawn_relay();
    env.spawn_archiver();
    let id = env.emit("chk_retry", 1).await[0];

    eventually(Duration::from_secs(20), "one effect", || async {
        env.scalar("SELECT count(*) FROM test_effects").await == 1
    })
    .await;
    let attempts: Vec<(i32, DateTime<Utc>)> =
        sqlx::query_as("SELECT attempt, at FROM test_attempts WHERE message_id = $1 ORDER BY at")
            .bind(id)
            .fetch_all(&env.app.pool)
            .await
            .unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // RETRY_DELAYS_SECS=0.3,0.6,1.2 with ±20 % jitter, plus broker and poll overhead.
    let gaps: Vec<f64> = attempts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).as_seconds_f64())
        .collect();
    for (gap, planned) in gaps.iter().zip([0.3, 0.6, 1.2]) {
        assert!(
            *gap >= planned * 0.8 - 0.02,
            "gaps {gaps:?}: {gap} is shorter than {planned} allows"
        );
        assert!(
            *gap <= planned * 1.2 + 0.5,
            "gaps {gaps:?}: {gap} is much longer than {planned}"
        );
    }
    assert!(gaps[0] < gaps[2], "delays grow: {gaps:?}");

    assert_eq!(env.scalar("SELECT count(*) FROM inbox").await, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.scalar("SELECT count(*) FROM dead_letters").await,
        0,
        "no dead letter"
    );
    assert_eq!(
        env.scalar("SELECT count(*) FROM test_effects").await,
        1,
        "one success"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_always_failing_handler_is_dead_lettered_after_max_attempts_and_replay_runs_it_again() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    let failing = Arc::new(AtomicBool::new(true));
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::FailWhile(failing.clone()),
    });
    env.spawn_relay();
    env.spawn_archiver();
    let id = env.emit("chk_doomed", 1).await[0];

    eventually(Duration::from_secs(20), "a dead letter", || async {
        env.scalar("SELECT count(*) FROM dead_letters").await == 1
    })
    .await;
    // MAX_ATTEMPTS=5: exactly five tries, then no more.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(env.scalar("SELECT count(*) FROM test_attempts").await, 5);

    let app = &env.app;
    let (_, listed) = app
        .get_json("/v1/ops/dead-letters?queue=test-work", &app.ops_key)
        .await;
    let dead = &listed["dead_letters"][0];
    assert_eq!(dead["queue"], test_handler::QUEUE);
    assert_eq!(dead["message_id"], id.to_string());
    assert_eq!(dead["type"], test_handler::EVENT);
    assert_eq!(dead["attempts"], 5);
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .contains("the test says fail")
    );
    assert_eq!(dead["body"]["payload"]["aggregate"], "chk_doomed");
    assert!(dead["first_failed_at"].as_str() < dead["last_failed_at"].as_str());

    // Fixed: replay sends it back with a fresh attempt count, and it succeeds once.
    failing.store(false, Ordering::SeqCst);
    let (replay, _) = app
        .send_json(
            reqwest::Method::POST,
            "/v1/ops/dead-letters/replay",
            &app.ops_key,
            &serde_json::json!({"id": dead["id"]}),
        )
        .await;
    assert_eq!(replay, 202);
    eventually(
        Duration::from_secs(10),
        "the replayed message to succeed",
        || async { env.scalar("SELECT count(*) FROM test_effects").await == 1 },
    )
    .await;
    let last_attempt = env
        .scalar("SELECT attempt::BIGINT FROM test_attempts ORDER BY at DESC LIMIT 1")
        .await;
    assert_eq!(last_attempt, 0, "a replay starts counting again");
    assert_eq!(
        env.scalar("SELECT count(*) FROM dead_letters WHERE status = 'replayed'")
            .await,
        1
    );
    assert_eq!(
        env.scalar("SELECT count(*) FROM ops_audit WHERE action = 'dead_letter.replay'")
            .await,
        1
    );

    // A second replay of the same dead letter is refused.
    let (again, _) = app
        .send_json(
            reqwest::Method::POST,
            "/v1/ops/dead-letters/replay",
            &app.ops_key,
            &serde_json::json!({"id": dead["id"]}),
        )
        .await;
    assert_eq!(again, 409);
    env.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_envelope_is_dead_lettered_at_once() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::Slow(Duration::ZERO),
    });
    env.spawn_archiver();
    // Wait until the runtime has declared its queue, then publish garbage straight in.
    let connection = broker::connect(SHARED_BROKER).await;
    let work = env.topology.work(test_handler::QUEUE);
    let publisher = cartwright_shared::queue::broker::Publisher::open(&connection)
        .await
        .unwrap();
    env.topology
        .declare_exchanges(publisher.channel())
        .await
        .unwrap();
    env.topology
        .declare_queue(publisher.channel(), &test_handler::queue())
        .await
        .unwrap();
    for body in [&b"{not json"[..], &br#"{"hello": "world"}"#[..]] {
        publisher
            .publish(
                cartwright_shared::queue::broker::Outgoing {
                    exchange: "",
                    routing_key: &work,
                    message_id: "m",
                    message_type: "test.event",
                    correlation_id: "c",
                    headers: Default::default(),
                    expiration: None,
                },
                body,
            )
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(10), "two dead letters", || async {
        env.scalar("SELECT count(*) FROM dead_letters").await == 2
    })
    .await;
    let errors: Vec<(String, i32)> =
        sqlx::query_as("SELECT error, attempts FROM dead_letters ORDER BY id")
            .fetch_all(&env.app.pool)
            .await
            .unwrap();
    for (error, attempts) in &errors {
        assert!(error.starts_with("unparseable message"), "{error}");
        assert_eq!(*attempts, 1, "no retries for what can never parse");
    }
    assert_eq!(
        env.scalar("SELECT count(*) FROM test_attempts").await,
        0,
        "the handler never saw them"
    );

    // Such a dead letter cannot be replayed, only discarded (and that is audited).
    let id = env.scalar("SELECT min(id) FROM dead_letters").await;
    let app = &env.app;
    let (replay, _) = app
        .send_json(
            reqwest::Method::POST,
            "/v1/ops/dead-letters/replay",
            &app.ops_key,
            &serde_json::json!({"id": id}),
        )
        .await;
    assert_eq!(replay, 409);
    let discard = app
        .client
        .delete(app.url(&format!("/v1/ops/dead-letters/{id}")))
        .bearer_auth(&app.ops_key)
        .send()
        .await
        .unwrap();
    assert_eq!(discard.status(), 204);
    assert_eq!(
        env.scalar("SELECT count(*) FROM ops_audit WHERE action = 'dead_letter.discard'")
            .await,
        1
    );
    env.stop().await;
}

/// Acks go out in runs up to the oldest delivery in flight. One slow message at the
/// front must not stop the rest: finished deliveries waiting behind it still count
/// against the prefetch, and with no more room the broker would send nothing until the
/// slow one ended.
#[tokio::test]
async fn a_slow_message_does_not_hold_up_the_ones_behind_it() {
    let mut env = QueueEnv::with_vars(SHARED_BROKER, &[("AMQP_PREFETCH", "8")]).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::SlowAggregate("chk_slow", Duration::from_secs(10)),
    });
    env.spawn_relay();
    env.emit("chk_slow", 1).await;
    eventually(
        Duration::from_secs(10),
        "the slow message to start",
        || async { env.scalar("SELECT count(*) FROM test_attempts").await == 1 },
    )
    .await;
    for n in 0..40 {
        env.emit(&format!("chk_quick_{n}"), 1).await;
    }
    eventually(
        Duration::from_secs(6),
        "all 40 quick messages done while the slow one still runs",
        || async { env.scalar("SELECT count(*) FROM test_effects").await == 40 },
    )
    .await;
    eventually(Duration::from_secs(20), "the slow one done too", || async {
        env.scalar("SELECT count(*) FROM test_effects").await == 41
    })
    .await;
    env.stop().await;
}

/// Whoever is paged reads one line and knows which message, of which checkout, on
/// which queue and at which attempt it is about, without each handler saying so.
#[tokio::test]
async fn every_line_logged_for_a_message_names_the_message() {
    let captured = Captured::install();
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::FailFirst(1),
    });
    env.spawn_relay();
    let id = env.emit("chk_logged", 1).await[0];
    eventually(Duration::from_secs(20), "one effect", || async {
        env.scalar("SELECT count(*) FROM test_effects").await == 1
    })
    .await;

    let logs = captured.text();
    let retried = logs
        .lines()
        .find(|line| line.contains("handler failed; retrying later"))
        .unwrap_or_else(|| panic!("no retry was logged:\n{logs}"));
    for field in [
        format!("message_id={id}"),
        format!("message_type={}", test_handler::EVENT),
        "correlation_id=chk_logged".to_owned(),
        "attempt=1".to_owned(),
        format!("queue={}", test_handler::QUEUE),
    ] {
        assert!(
            retried.contains("message{") && retried.contains(&field),
            "{field} missing from {retried:?}"
        );
    }
    env.stop().await;
}
