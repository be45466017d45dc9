//! The real `cartwright-workers payments` process, SIGKILLed after Stripe authorized the
//! payment and before its transaction committed: the next process retries with the same
//! idempotency key, Stripe replays its answer, and the customer is charged once. And a
//! worker process started while its database is away, which waits for it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cartwright_testkit::broker::eventually;

use crate::common::{STRIPE_KEY, WAIT, World};

/// Kills the worker however the test ends.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(world: &World) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_cartwright-workers"))
        .arg("payments")
        .envs(world.env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DATABASE_URL", &world.env.app.database_url)
        .env("STRIPE_API_BASE", &world.emulator.base_url)
        .env("STRIPE_SECRET_KEY", STRIPE_KEY)
        .env("WORKERS_METRICS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cartwright-workers");
    Worker(child)
}

async fn created(world: &World) -> i64 {
    world.ledger().await["counters"]["payment_intents_created"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_payment_worker_killed_between_stripe_and_its_commit_charges_once() {
    let mut world = World::idle().await;
    let (id, _) = world.submit("pm_card_visa").await;
    // Hold the checkout row: the worker's commit transaction waits behind this lock,
    // after its Stripe call has gone through.
    let blocker = world.hold_checkout(&id).await;
    world.env.spawn_relay();
    let mut doomed = spawn_worker(&world);
    eventually(WAIT, "Stripe to authorize the payment", || async {
        created(&world).await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.0.kill().expect("SIGKILL");
    doomed.0.wait().expect("reaped");
    blocker.rollback().await.unwrap();
    assert_eq!(
        world.status(&id).await,
        "pending",
        "its transaction died with it"
    );

    let _survivor = spawn_worker(&world);
    world.wait_for(&id, "authorized").await;
    let ledger = world.ledger().await;
    assert_eq!(ledger["counters"]["payment_intents_created"], 1);
    assert_eq!(ledger["counters"]["idempotent_replays"], 1);
    assert_eq!(ledger["payment_intents"].as_array().unwrap().len(), 1);
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT count(*) FROM payment_transactions WHERE checkout_id = '{id}' AND kind = 'authorize'"
            ))
            .await,
        1
    );
    world.env.stop().await;
}

/// A free port on the loopback address, closed again for the test to use.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A process restarted while PostgreSQL restarts (a supervisor's restart, a deploy)
/// finds nothing at the database's address. It waits for it instead of exiting, since
/// nothing would start it again: the fault drill saw a relay die so.
#[tokio::test]
async fn a_worker_started_while_the_database_is_away_waits_for_it() {
    let world = World::idle().await;
    let real = reqwest::Url::parse(&world.env.app.database_url).expect("database URL");
    let database = format!(
        "{}:{}",
        real.host_str().expect("host"),
        real.port().unwrap_or(5432)
    );
    let away = free_port();
    let mut moved = real.clone();
    moved.set_port(Some(away)).expect("port");
    let metrics = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_cartwright-workers"))
        .arg("relay")
        .envs(world.env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DATABASE_URL", moved.as_str())
        .env("WORKERS_METRICS_BIND", format!("127.0.0.1:{metrics}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn cartwright-workers");
    let mut worker = Worker(child);
    let metrics_url = format!("http://127.0.0.1:{metrics}/metrics");
    let serving = || async {
        reqwest::get(&metrics_url)
            .await
            .is_ok_and(|r| r.status().is_success())
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        worker.0.try_wait().expect("status").is_none(),
        "the worker exited while the database was away"
    );
    assert!(!serving().await, "not started without its database");

    // The database comes back at its address: a forwarder to the real server.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", away))
        .await
        .expect("the database's address");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let database = database.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(database).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    eventually(
        WAIT,
        "the worker to start once the database answers",
        serving,
    )
    .await;
    assert!(worker.0.try_wait().expect("status").is_none());
}
