//! The outbox relay: nothing accepted is lost while RabbitMQ is down, nothing is
//! published twice, and two replicas at once publish each row once, in order per
//! aggregate.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cartwright_shared::queue::envelope::Envelope;
use cartwright_testkit::broker::{self, QueueEnv, RabbitNode, SHARED_BROKER, eventually};
use cartwright_testkit::{demo_checkout, test_handler};

#[tokio::test]
async fn checkouts_accepted_while_rabbitmq_is_stopped_are_published_once_when_it_returns() {
    // A private node: stopping the shared broker would break every other test.
    let mut node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    env.spawn_relay();
    // Proves the relay is connected and has declared the queues.
    env.emit("warm-up", 1).await;
    eventually(
        Duration::from_secs(30),
        "the warm-up message to be published",
        || async {
            env.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .await
                == 0
        },
    )
    .await;

    env.app.set_stock("NORD-1001", 500).await;
    env.app.set_stock("RACK-2001", 500).await;
    node.stop().await;
    for i in 0..50 {
        let response = env
            .app
            .submit(&format!("while-down-{i}"), &demo_checkout())
            .await;
        let status = response.status();
        assert_eq!(
            status,
            202,
            "intake does not need the broker: {}",
            response.text().await.unwrap()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        50,
        "all 50 wait in the outbox"
    );

    node.restart().await;
    eventually(Duration::from_secs(60), "the outbox to drain", || async {
        env.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await
            == 0
    })
    .await;
    let connection = broker::connect(&node.url()).await;
    let bodies = broker::drain(&connection, &env.topology.work("payments")).await;
    let ids: HashSet<_> = bodies
        .iter()
        .map(|b| Envelope::parse(b).expect("envelope").id)
        .collect();
    assert_eq!(
        bodies.len(),
        50,
        "every checkout.submitted reached the payments queue"
    );
    assert_eq!(ids.len(), 50, "none twice");
    env.stop().await;
}

#[tokio::test]
async fn two_relay_replicas_publish_each_row_once_in_order_per_aggregate() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    let connection = test_queue(&env).await;
    for aggregate in 0..20 {
        env.emit(&format!("chk_{aggregate}"), 20).await;
    }
    env.spawn_relay();
    env.spawn_relay();
    eventually(
        Duration::from_secs(30),
        "all 400 rows published",
        || async {
            env.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .await
                == 0
        },
    )
    .await;

    let bodies = broker::drain(&connection, &env.topology.work(test_handler::QUEUE)).await;
    assert_eq!(bodies.len(), 400, "each row exactly once");
    let mut seen = HashSet::new();
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    for body in &bodies {
        let envelope = Envelope::parse(body).unwrap();
        assert!(seen.insert(envelope.id), "duplicate {}", envelope.id);
        let seq = envelope.payload["seq"].as_i64().unwrap();
        let previous = last_seq.insert(envelope.correlation_id.clone(), seq);
        assert_eq!(
            previous.map_or(0, |p| p + 1),
            seq,
            "{} out of order",
            envelope.correlation_id
        );
    }
    env.stop().await;
}

/// Writers notify only while a relay waits, and the relay waits only after it has taken
/// the listening lock and published once more. With the poll out of reach, every row of
/// bursts of concurrent commits, and of lone commits into an idle relay, must still go
/// out at once: a wake-up lost between "busy" and "waiting" would leave rows for minutes.
#[tokio::test]
async fn rows_committed_around_the_relay_going_idle_are_published_without_the_poll() {
    let mut env =
        QueueEnv::with_vars(SHARED_BROKER, &[("OUTBOX_POLL_INTERVAL_MS", "600000")]).await;
    let connection = test_queue(&env).await;
    env.spawn_relay();
    let unpublished = "SELECT count(*) FROM outbox WHERE published_at IS NULL";
    let mut written = 0;
    for round in 0..5 {
        // A lone commit into a relay that has gone idle: the notify path.
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.emit(&format!("lone-{round}"), 1).await;
        written += 1;
        eventually(Duration::from_secs(5), "the lone row published", || async {
            env.scalar(unpublished).await == 0
        })
        .await;
        // A burst: commits land while the relay publishes, goes idle and wakes again.
        let writers = (0..16).map(|w| {
            let env = &env;
            async move {
                for n in 0..8u64 {
                    env.emit(&format!("burst-{round}-{w}"), 1 + n as usize % 2)
                        .await;
                    tokio::time::sleep(Duration::from_millis(n % 3 * 4)).await;
                }
            }
        });
        futures::future::join_all(writers).await;
        written += 16 * (0..8).map(|n| 1 + n % 2).sum::<usize>();
        eventually(
            Duration::from_secs(5),
            "every burst row published",
            || async { env.scalar(unpublished).await == 0 },
        )
        .await;
    }
    let bodies = broker::drain(&connection, &env.topology.work(test_handler::QUEUE)).await;
    assert_eq!(bodies.len(), written, "each row once");
    env.stop().await;
}

/// Declares the test queue on the shared broker (it must exist before anything is
/// published to its binding) and returns the connection to drain it with.
async fn test_queue(env: &QueueEnv) -> lapin::Connection {
    let connection = broker::connect(SHARED_BROKER).await;
    let channel = connection.create_channel().await.unwrap();
    env.topology.declare_exchanges(&channel).await.unwrap();
    env.topology
        .declare_queue(&channel, &test_handler::queue())
        .await
        .unwrap();
    connection
}
