//! The real `cartwright-workers payments` process, SIGKILLed after Stripe authorized the
//! payment and before its transaction committed: the next process retries with the same
//! idempotency key, Stripe replays its answer, and the customer is charged once.

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
    let mut blocker = world.env.app.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM checkouts WHERE id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut *blocker)
        .await
        .unwrap();
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
