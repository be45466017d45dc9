//! Consumers ride out a broker restart: they reconnect with backoff, re-declare their
//! queues, and carry on with what was queued and what comes next.

use std::time::Duration;

use cartwright_testkit::broker::{self, QueueEnv, RabbitNode, eventually};
use cartwright_testkit::test_handler::{self, Behaviour, TestHandler};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

/// How many consumers the broker counts on the test queue's work and dead-letter queues
/// (a passive declare answers with the count).
async fn consumers(node: &RabbitNode, env: &QueueEnv) -> (u32, u32) {
    let connection = broker::connect(&node.url()).await;
    let name = test_handler::queue().name;
    let mut counts = Vec::new();
    for queue in [env.topology.work(&name), env.topology.dead(&name)] {
        // A failed passive declare closes its channel: one channel per queue.
        let channel = connection.create_channel().await.expect("channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        // A queue not declared yet (the passive declare fails) has no consumer.
        let declared = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await;
        counts.push(declared.map_or(0, |q| q.consumer_count()));
    }
    let _ = connection.close(200, "counted".into()).await;
    (counts[0], counts[1])
}

#[tokio::test]
async fn consumers_and_the_relay_reconnect_after_rabbitmq_restarts() {
    let mut node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    // Two consumers on the one connection they share, as in a worker process.
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::Slow(Duration::ZERO),
    });
    env.spawn_archiver();
    // Let the consumer declare its queue before the first event is published.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.spawn_relay();
    env.emit("chk_before", 1).await;
    eventually(
        Duration::from_secs(30),
        "the first message handled",
        || async { env.scalar("SELECT count(*) FROM test_effects").await == 1 },
    )
    .await;
    eventually(Duration::from_secs(30), "both consumers up", || async {
        consumers(&node, &env).await == (1, 1)
    })
    .await;

    node.stop().await;
    // Written while the broker is down: waits in the outbox.
    env.emit("chk_during", 3).await;
    node.restart().await;
    env.emit("chk_after", 2).await;
    eventually(
        Duration::from_secs(60),
        "all six handled after the restart",
        || async { env.scalar("SELECT count(*) FROM test_effects").await == 6 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.scalar("SELECT count(DISTINCT message_id) FROM test_effects")
            .await,
        6,
        "none twice"
    );
    // Both came back on the new connection, not only the first to find the old one gone.
    eventually(
        Duration::from_secs(30),
        "both consumers back after the restart",
        || async { consumers(&node, &env).await == (1, 1) },
    )
    .await;
    env.stop().await;
}
