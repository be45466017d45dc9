//! Consumers ride out a broker restart: they reconnect with backoff, re-declare their
//! queues, and carry on with what was queued and what comes next.

use std::time::Duration;

use cartwright_testkit::broker::{QueueEnv, RabbitNode, eventually};
use cartwright_testkit::test_handler::{Behaviour, TestHandler};

#[tokio::test]
async fn consumers_and_the_relay_reconnect_after_rabbitmq_restarts() {
    let mut node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    env.spawn_handler(TestHandler {
        behaviour: Behaviour::Slow(Duration::ZERO),
    });
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
    env.stop().await;
}
