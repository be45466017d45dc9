//! A worker process killed with SIGKILL while its handler is mid-flight: the message is
//! redelivered to the next worker and its effects happen exactly once.

use std::process::{Child, Command, Stdio};

/// Kills the worker however the test ends, so a failing test leaves no process behind.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
use std::time::Duration;

use cartwright_testkit::broker::{QueueEnv, SHARED_BROKER, eventually};

fn spawn_worker(env: &QueueEnv, slow_ms: u64) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_test-worker"))
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DATABASE_URL", &env.app.database_url)
        .env("TEST_HANDLER_SLOW_MS", slow_ms.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn test-worker");
    Worker(child)
}

#[tokio::test]
async fn a_worker_killed_mid_flight_leaves_the_message_to_be_done_once() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    // The queue must exist before the event is published, or it would go unrouted.
    let connection = cartwright_testkit::broker::connect(SHARED_BROKER).await;
    let channel = connection.create_channel().await.unwrap();
    env.topology.declare_exchanges(&channel).await.unwrap();
    env.topology
        .declare_queue(&channel, &cartwright_testkit::test_handler::queue())
        .await
        .unwrap();
    env.spawn_relay();
    // This worker holds its transaction open for 30 s: long enough to be killed in it.
    let mut doomed = spawn_worker(&env, 30_000);
    let id = env.emit("chk_killed", 1).await[0];
    eventually(
        Duration::from_secs(20),
        "the first worker to start handling",
        || async { env.scalar("SELECT count(*) FROM test_attempts").await == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    doomed.0.kill().expect("SIGKILL");
    doomed.0.wait().expect("reaped");
    assert_eq!(
        env.scalar("SELECT count(*) FROM test_effects").await,
        0,
        "its transaction died with it"
    );

    let _successor = spawn_worker(&env, 0);
    eventually(
        Duration::from_secs(30),
        "the redelivered message to be handled",
        || async { env.scalar("SELECT count(*) FROM test_effects").await == 1 },
    )
    .await;
    // Give any duplicate a chance to show itself before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.scalar("SELECT count(*) FROM test_effects").await,
        1,
        "effects exactly once"
    );
    assert_eq!(
        env.scalar("SELECT count(*) FROM test_attempts").await,
        2,
        "tried by both workers"
    );
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE message_id = $1")
        .bind(id)
        .fetch_one(&env.app.pool)
        .await
        .unwrap();
    assert_eq!(processed, 1);
    env.stop().await;
}

#[tokio::test]
async fn sigterm_lets_the_message_in_flight_finish_before_the_worker_exits() {
    let mut env = QueueEnv::new(SHARED_BROKER).await;
    let connection = cartwright_testkit::broker::connect(SHARED_BROKER).await;
    let channel = connection.create_channel().await.unwrap();
    env.topology.declare_exchanges(&channel).await.unwrap();
    env.topology
        .declare_queue(&channel, &cartwright_testkit::test_handler::queue())
        .await
        .unwrap();
    env.spawn_relay();
    let mut worker = spawn_worker(&env, 2_000);
    env.emit("chk_graceful", 1).await;
    eventually(
        Duration::from_secs(20),
        "the worker to start handling",
        || async { env.scalar("SELECT count(*) FROM test_attempts").await == 1 },
    )
    .await;
    let pid = worker.0.id().to_string();
    assert!(
        Command::new("kill")
            .arg("-TERM")
            .arg(&pid)
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = worker.0.wait();
        (status, worker)
    })
    .await
    .unwrap()
    .0
    .expect("exit status");
    assert!(status.success(), "a clean exit on SIGTERM, not {status:?}");
    // It finished what it had started: the effect committed, the message acknowledged.
    assert_eq!(env.scalar("SELECT count(*) FROM test_effects").await, 1);
    assert_eq!(env.scalar("SELECT count(*) FROM inbox").await, 1);
    let connection = cartwright_testkit::broker::connect(SHARED_BROKER).await;
    let queue = env.topology.work(cartwright_testkit::test_handler::QUEUE);
    assert_eq!(
        cartwright_testkit::broker::queue_len(&connection, &queue).await,
        0,
        "nothing left to redeliver"
    );
    env.stop().await;
}
