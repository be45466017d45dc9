//! The browser placement worker against the demo retailer, with real Chromium through
//! chromedriver, real PostgreSQL and RabbitMQ.

mod recipes;
mod world;

use std::path::PathBuf;
use std::time::Duration;

use cartwright_shared::procs::Stat;
use cartwright_testkit::broker::eventually;
use cartwright_testkit::procs;
use serde_json::json;
use world::{World, uuid_like, world, world_with};
#[tokio::test(flavor = "multi_thread")]
async fn places_a_nordwind_order_end_to_end_with_number_total_and_screenshot() {
    let w = world(Duration::from_millis(300), &[]).await;
    let number = w
        .order(json!([{"sku": "NORD-1001", "quantity": 2}, {"sku": "NORD-1006", "quantity": 1}]))
        .await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");

    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let bought = &log[0];
    assert_eq!(bought["items"][0]["quantity"], 2);
    assert_eq!(bought["shipping_address"]["line1"], "123 Main St");
    let (store_number, total, screenshot): (String, i64, String) = sqlx::query_as(
        "SELECT store_order_number, store_total, screenshot_path FROM placement_attempts
         WHERE order_number = $1 AND state = 'placed'",
    )
    .bind(&number)
    .fetch_one(&w.env.app.pool)
    .await
    .unwrap();
    assert_eq!(store_number, bought["order_number"].as_str().unwrap());
    assert_eq!(total, bought["total_cents"].as_i64().unwrap());
    let png = std::fs::read(&screenshot).expect("screenshot file");
    assert_eq!(&png[..4], b"\x89PNG");
    let on_order: String =
        sqlx::query_scalar("SELECT store_order_number FROM orders WHERE number = $1")
            .bind(&number)
            .fetch_one(&w.env.app.pool)
            .await
            .unwrap();
    assert_eq!(on_order, store_number);
    let placed_events = w
        .env
        .scalar(&format!(
            "SELECT count(*) FROM outbox WHERE message_type = 'order.placed' AND payload->>'order_number' = '{number}'"
        ))
        .await;
    assert_eq!(placed_events, 1);
    let audit = w
        .env
        .scalar(&format!(
            "SELECT count(*) FROM status_history WHERE order_number = '{number}' AND to_status = 'placed' AND actor = 'system:browser'"
        ))
        .await;
    assert_eq!(audit, 1);
    // The confirmation's total is recorded; the retailer charges no sales tax, so it is
    // under the customer's total: nothing flagged.
    let (expected, paid, over) = w.charge(&number).await;
    assert!(total < expected, "{total} vs {expected}");
    assert_eq!((paid, over), (Some(total), None));
    assert_eq!(w.total_alerts(&number).await, 0);
    w.stop().await;
}

/// The retailer charged more at the confirmation than its checkout showed: the order was
/// bought, so it is placed (never queued for a person to buy again), flagged, alerted.
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_total_over_the_tolerance_is_placed_flagged_and_alerted() {
    let w = world(Duration::from_millis(300), &[]).await;
    w.switch("nordwind", "NORD-1006", "surcharge").await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let charged = log[0]["total_cents"].as_i64().unwrap();
    let (expected, paid, over) = w.charge(&number).await;
    assert!(
        charged > expected + expected * 2 / 100,
        "{charged} vs {expected}"
    );
    assert_eq!((paid, over), (Some(charged), Some(charged - expected)));
    assert_eq!(w.total_alerts(&number).await, 1);
    assert_eq!(w.manual_reason(&number).await, None);
    let alert = w
        .env
        .scalar(&format!(
            "SELECT count(*) FROM outbox WHERE message_type = 'ops.alert'
             AND payload->>'kind' = 'total_over_expected' AND payload->>'target' = 'order:{number}'"
        ))
        .await;
    assert_eq!(alert, 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn places_a_rackhouse_order_through_its_product_ids_and_saved_card() {
    let w = world(Duration::from_millis(300), &[]).await;
    let number = w.order(json!([{"sku": "RACK-2002", "quantity": 1}])).await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["items"][0]["product_id"], "rh-88227");
    assert_eq!(log[0]["saved_card"], "visa-4242");
    w.stop().await;
}

/// WebDriver types U+E000–U+E05D as keys: an Enter in an address line would submit the
/// retailer's form from there, before the worker's final click and its never-twice gate.
/// Intake refuses such characters; the worker leaves them out of what it types anyway.
#[tokio::test(flavor = "multi_thread")]
async fn webdriver_keys_hidden_in_an_address_are_not_typed() {
    let w = world(Duration::from_millis(300), &[]).await;
    let number = w
        .order_shipped_to(
            json!([{"sku": "NORD-1006", "quantity": 1}]),
            "123 Main\u{E007} St\u{200B}",
        )
        .await;
    assert_eq!(w.settled(&number, Duration::from_secs(240)).await, "placed");
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["shipping_address"]["line1"], "123 Main St");
    w.stop().await;
}

/// One scenario on the order's only SKU: the order must reach `status` with `reason`,
/// and the retailer must hold `bought` orders.
async fn scenario(store: &str, sku: &str, name: &str, status: &str, reason: &str, bought: usize) {
    let w = world(
        Duration::from_secs(3),
        &[("BROWSER_STEP_TIMEOUT_MS", "1500")],
    )
    .await;
    w.switch(store, sku, name).await;
    let number = w.order(json!([{"sku": sku, "quantity": 1}])).await;
    assert_eq!(
        w.settled(&number, Duration::from_secs(240)).await,
        status,
        "{name}"
    );
    assert_eq!(
        w.manual_reason(&number).await.as_deref(),
        Some(reason),
        "{name}"
    );
    let log = w.retailer_orders().await;
    assert_eq!(log.len(), bought, "{name}: {log:#?}");
    let failure_shot: Option<String> = sqlx::query_scalar(
        "SELECT screenshot_path FROM placement_attempts WHERE order_number = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(&number)
    .fetch_one(&w.env.app.pool)
    .await
    .unwrap();
    assert!(
        failure_shot.is_some_and(|p| std::path::Path::new(&p).exists()),
        "{name}: evidence"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn captcha_goes_to_the_manual_queue() {
    scenario(
        "nordwind",
        "NORD-1002",
        "captcha",
        "awaiting_manual",
        "captcha",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_stock_goes_to_the_manual_queue() {
    scenario(
        "rackhouse",
        "RACK-2003",
        "out_of_stock",
        "awaiting_manual",
        "out_of_stock",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_higher_price_goes_to_the_manual_queue() {
    scenario(
        "nordwind",
        "NORD-1001",
        "price_change",
        "awaiting_manual",
        "price_changed",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_layout_goes_to_the_manual_queue() {
    scenario(
        "rackhouse",
        "RACK-2001",
        "changed_layout",
        "awaiting_manual",
        "page_changed",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_wall_goes_to_the_manual_queue() {
    scenario(
        "nordwind",
        "NORD-1004",
        "sign_in_wall",
        "awaiting_manual",
        "sign_in_wall",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_pages_retry_then_go_to_the_manual_queue() {
    scenario(
        "nordwind",
        "NORD-1005",
        "slow",
        "awaiting_manual",
        "automation_failed",
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_after_submit_needs_verification_and_buys_at_most_once() {
    scenario(
        "nordwind",
        "NORD-1007",
        "error_after_submit",
        "needs_verification",
        "needs_verification",
        1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_orders_in_flight_respect_the_per_store_limit() {
    let w = world(
        Duration::from_millis(200),
        &[("BROWSER_PER_STORE_LIMIT", "2"), ("BROWSER_POOL_SIZE", "3")],
    )
    .await;
    // Slow pages keep sessions busy long enough to overlap.
    w.switch("nordwind", "NORD-1001", "slow").await;
    let mut numbers = Vec::new();
    for _ in 0..10 {
        numbers.push(w.order(json!([{"sku": "NORD-1001", "quantity": 1}])).await);
    }
    for number in &numbers {
        assert_eq!(w.settled(number, Duration::from_secs(300)).await, "placed");
    }
    assert_eq!(w.retailer_orders().await.len(), 10);
    assert_eq!(w.worker.stats().max_in_use("nordwind"), 2);
    w.stop().await;
}

/// The real `cartwright-workers placement-browser` process, with the test's settings.
fn spawn_worker(w: &World) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_cartwright-workers"))
        .arg("placement-browser")
        .envs(w.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("WORKERS_METRICS_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn cartwright-workers")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_during_submit_leaves_the_order_for_verification_bought_at_most_once() {
    let w = world_with(
        Duration::from_secs(4),
        &[("BROWSER_STEP_TIMEOUT_MS", "15000")],
        false,
    )
    .await;
    w.switch("nordwind", "NORD-1006", "slow").await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    let mut first = spawn_worker(&w);
    eventually(Duration::from_secs(120), "the attempt to be submitting", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM placement_attempts WHERE order_number = $1 AND state = 'submitting'",
        )
        .bind(&number)
        .fetch_one(&w.env.app.pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    // The place-order POST is being held by the slow retailer: kill the worker now.
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let mut second = spawn_worker(&w);
    let status = w.settled(&number, Duration::from_secs(120)).await;
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(status, "needs_verification");
    assert_eq!(
        w.manual_reason(&number).await.as_deref(),
        Some("needs_verification")
    );
    // Let the held submit finish at the retailer, then count.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(w.retailer_orders().await.len() <= 1);
    let attempts = w
        .env
        .scalar(&format!(
            "SELECT count(*) FROM placement_attempts WHERE order_number = '{number}'"
        ))
        .await;
    assert_eq!(attempts, 1, "the second worker must not try again");
    w.stop().await;
}

/// The attempt's state once it has ended (anything but `started`/`submitting`).
async fn attempt_ended(w: &World, number: &str) -> (String, Option<String>) {
    let ended = || async {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT state, error FROM placement_attempts
             WHERE order_number = $1 AND state NOT IN ('started', 'submitting')",
        )
        .bind(number)
        .fetch_optional(&w.env.app.pool)
        .await
        .unwrap()
    };
    eventually(Duration::from_secs(120), "the attempt to end", || async {
        ended().await.is_some()
    })
    .await;
    ended().await.unwrap()
}

/// The capture-deadline rule: no final click once the authorization could not pay for
/// the order. Before the fix the worker bought it, and the customer was never charged.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_whose_authorization_is_about_to_lapse_is_not_bought() {
    let w = world(Duration::from_millis(300), &[]).await;
    let number = w
        .order_paid_until(json!([{"sku": "NORD-1001", "quantity": 1}]), "2 hours")
        .await;
    let (state, error) = attempt_ended(&w, &number).await;
    assert_eq!(state, "abandoned");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("authorization")),
        "{error:?}"
    );
    assert!(w.retailer_orders().await.is_empty(), "nothing bought");
    // Left for the capture-deadline guard, which fails it and tells the customer.
    assert_eq!(w.status(&number).await, "placing");
    w.stop().await;
}

/// The capture-deadline guard failed the order while the worker was filling the cart:
/// the worker re-checks the order under its row lock before the final click.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_failed_while_its_cart_is_filled_is_not_bought() {
    let w = world(
        Duration::from_secs(2),
        &[("BROWSER_STEP_TIMEOUT_MS", "15000")],
    )
    .await;
    w.switch("nordwind", "NORD-1006", "slow").await;
    let number = w.order(json!([{"sku": "NORD-1006", "quantity": 1}])).await;
    eventually(Duration::from_secs(120), "an attempt to start", || async {
        w.env
            .scalar(&format!(
                "SELECT count(*) FROM placement_attempts WHERE order_number = '{number}' AND state = 'started'"
            ))
            .await
            == 1
    })
    .await;
    // What the guard does to an order nobody is submitting.
    sqlx::query("UPDATE orders SET status = 'failed' WHERE number = $1")
        .bind(&number)
        .execute(&w.env.app.pool)
        .await
        .unwrap();
    let (state, error) = attempt_ended(&w, &number).await;
    assert_eq!(state, "abandoned");
    assert!(
        error.as_deref().is_some_and(|e| e.contains("failed")),
        "{error:?}"
    );
    // The slow retailer may still be answering; give a stray click time to land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(w.retailer_orders().await.is_empty(), "nothing bought");
    assert_eq!(w.status(&number).await, "failed");
    w.stop().await;
}

/// Worker processes that start chromedriver themselves (no `CHROMEDRIVER_URL`), with a
/// run dir of their own and an environment mark their browsers inherit.
struct OwnBrowsers {
    run_dir: PathBuf,
    mark: String,
}

const MARK: &str = "CARTWRIGHT_TEST_MARK";

impl OwnBrowsers {
    fn new() -> Self {
        let mark = uuid_like();
        let run_dir = std::env::temp_dir().join(format!("cwt-run-{mark}"));
        Self { run_dir, mark }
    }

    fn spawn(&self, w: &World) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_cartwright-workers"))
            .arg("placement-browser")
            .envs(w.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("CHROMEDRIVER_URL")
            .env("BROWSER_RUN_DIR", &self.run_dir)
            .env(MARK, &self.mark)
            .env("WORKERS_METRICS_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn cartwright-workers")
    }

    /// The worker's process tree and whatever carries the mark (the tree misses
    /// Chromium's crash handlers, which detach; the mark misses its renderers).
    fn processes(&self, worker: u32) -> Vec<Stat> {
        let mut all = procs::tree(worker);
        all.extend(procs::with_env(MARK, &self.mark));
        all
    }

    /// Chromium browsers (one per session) under `worker`, not their helpers.
    fn sessions(&self, worker: u32) -> usize {
        procs::tree(worker)
            .iter()
            .filter(|p| {
                let argv = cartwright_shared::procs::cmdline(p.pid);
                cartwright_shared::procs::program(p.pid).as_deref() == Some("chromium")
                    && !argv.iter().any(|a| a.contains("--type="))
            })
            .count()
    }

    /// Everything that carries the mark now.
    fn marked(&self) -> Vec<Stat> {
        procs::with_env(MARK, &self.mark)
    }

    /// Waits until nothing of `seen` runs any more.
    async fn none_left(&self, seen: &[Stat], within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = procs::still_running(seen);
            if left.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running {within:?} after the worker died: {}",
                procs::describe(&left)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for OwnBrowsers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn kill(mut worker: std::process::Child) {
    worker.kill().expect("SIGKILL");
    let _ = worker.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_worker_leaves_no_chromedriver_or_chromium() {
    let w = world_with(Duration::from_secs(3), &[("BROWSER_POOL_SIZE", "2")], false).await;
    let own = OwnBrowsers::new();
    w.switch("nordwind", "NORD-1001", "slow").await;
    for _ in 0..2 {
        w.order(json!([{"sku": "NORD-1001", "quantity": 1}])).await;
    }
    let worker = own.spawn(&w);
    let pid = worker.id();
    eventually(
        Duration::from_secs(60),
        "two browser sessions open",
        || async { own.sessions(pid) == 2 },
    )
    .await;
    let seen = own.processes(pid);
    assert!(
        seen.iter()
            .any(|p| cartwright_shared::procs::program(p.pid).as_deref() == Some("chromedriver")),
        "{}",
        procs::describe(&seen)
    );
    kill(worker);
    own.none_left(&seen, Duration::from_secs(3)).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_whose_supervisor_was_killed_too_are_reaped_by_the_next_worker() {
    let w = world_with(Duration::from_secs(3), &[("BROWSER_POOL_SIZE", "1")], false).await;
    let own = OwnBrowsers::new();
    w.switch("nordwind", "NORD-1001", "slow").await;
    w.order(json!([{"sku": "NORD-1001", "quantity": 1}])).await;
    let first = own.spawn(&w);
    let pid = first.id();
    eventually(
        Duration::from_secs(60),
        "a browser session open",
        || async { own.sessions(pid) == 1 },
    )
    .await;
    let seen = own.processes(pid);
    // As the OOM killer might: the supervising shell first, then the worker.
    let supervisor = seen
        .iter()
        .find(|p| {
            cartwright_shared::procs::cmdline(p.pid)
                .iter()
                .any(|a| a == "cartwright-browser-group")
        })
        .expect("the supervising shell");
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", &supervisor.pid.to_string()])
        .status();
    kill(first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let orphans = procs::still_running(&seen);
    assert!(
        !orphans.is_empty(),
        "the browsers outlive both, until reaped"
    );
    let second = own.spawn(&w);
    own.none_left(&orphans, Duration::from_secs(10)).await;
    kill(second);
    own.none_left(&own.marked(), Duration::from_secs(5)).await;
    w.stop().await;
}

/// As an orchestrator's liveness kills or a crash loop would: twenty SIGKILLs, each a
/// little more than one fresh worker's first placement apart (at least 3.5 s), with
/// orders waiting all along. One browser session (docs/architecture.md, "A worker's
/// first seconds"). The life is measured first because this box's speed moves by half
/// between runs: at a fixed 3.5 s a slow day's worker was killed before any placement
/// could finish, which says nothing about the worker.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_of_twenty_kills_leaves_no_browser_behind_and_still_places_orders() {
    let w = world_with(
        Duration::from_millis(200),
        &[("BROWSER_POOL_SIZE", "1")],
        false,
    )
    .await;
    let own = OwnBrowsers::new();
    let mut numbers = Vec::new();
    for _ in 0..16 {
        numbers.push(w.order(json!([{"sku": "NORD-1001", "quantity": 1}])).await);
    }
    let first = own.spawn(&w);
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(120), "a first order placed", || async {
        w.count("placed").await >= 1
    })
    .await;
    let life = (started.elapsed() * 3 / 2).max(Duration::from_millis(3500));
    let mut seen = own.processes(first.id());
    kill(first);
    let placed_before = w.count("placed").await;
    for _ in 0..20 {
        let worker = own.spawn(&w);
        tokio::time::sleep(life).await;
        seen.extend(own.processes(worker.id()));
        kill(worker);
    }
    own.none_left(&seen, Duration::from_secs(5)).await;
    own.none_left(&own.marked(), Duration::from_secs(5)).await;
    let placed_in_the_loop = w.count("placed").await - placed_before;
    assert!(
        placed_in_the_loop > 0,
        "nothing placed in 20 lives of {life:?}"
    );

    // A worker left alone finishes the rest, except what the broker dead-lettered
    // over its delivery limit (an order in flight at ten kills); nothing twice.
    let last = own.spawn(&w);
    let broker = cartwright_testkit::broker::connect(&w.node.url()).await;
    let dead_queue = w.env.topology.dead("placement-browser");
    eventually(
        Duration::from_secs(60),
        "every order settled or dead-lettered",
        || async {
            let dead = i64::from(cartwright_testkit::broker::queue_len(&broker, &dead_queue).await);
            w.count("placing").await == dead
        },
    )
    .await;
    // Bought once per placed order; a kill at the final click may have bought one
    // more, which then awaits a person's check (needs_verification), never a retry.
    let bought = i64::try_from(w.retailer_orders().await.len()).unwrap();
    let (placed, unsure) = (w.count("placed").await, w.count("needs_verification").await);
    assert!(
        placed <= bought && bought <= placed + unsure,
        "{bought} bought, {placed} placed, {unsure} to verify"
    );
    let seen = own.processes(last.id());
    kill(last);
    own.none_left(&seen, Duration::from_secs(5)).await;
    w.stop().await;
}
