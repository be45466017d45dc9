//! A test's world: the demo retailer, a broker of its own, chromedriver and the browser
//! worker, with helpers to order and to read back what happened.

use std::path::PathBuf;
use std::time::Duration;

use cartwright_testkit::broker::{QueueEnv, RabbitNode, eventually};
use cartwright_testkit::webdriver::Chromedriver;
use cartwright_workers::placement_browser::{BrowserConfig, BrowserPlacement};
use demo_retailer::RetailerHandle;
use serde_json::{Value, json};

pub struct World {
    pub vars: Vec<(String, String)>,
    pub env: QueueEnv,
    /// A broker of the test's own: the shared node runs short of file descriptors
    /// when many suites leave queues behind, and then connections stall.
    pub node: RabbitNode,
    pub site: RetailerHandle,
    _driver: Chromedriver,
    pub worker: BrowserPlacement,
    pub evidence: PathBuf,
    pub http: reqwest::Client,
}

pub fn stores_dir() -> String {
    format!("{}/../stores", env!("CARGO_MANIFEST_DIR"))
}

pub async fn world(slow: Duration, extra: &[(&str, &str)]) -> World {
    world_with(slow, extra, true).await
}

/// `in_process`: run the worker inside the test (else the test spawns the binary).
pub async fn world_with(slow: Duration, extra: &[(&str, &str)], in_process: bool) -> World {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,cartwright_workers=info")
        .with_test_writer()
        .try_init();
    let site = demo_retailer::spawn(demo_retailer::Config { slow_delay: slow })
        .await
        .expect("demo retailer");
    let node = RabbitNode::start().await;
    let mut env = QueueEnv::new(&node.url()).await;
    env.spawn_relay();
    let driver = Chromedriver::start().await;
    let evidence = std::env::temp_dir().join(format!("cwt-evidence-{}", uuid_like()));
    let urls = format!(
        "nordwind={},rackhouse={}",
        site.url("/nordwind"),
        site.url("/rackhouse")
    );
    let mut vars: Vec<(String, String)> = vec![
        ("CHROMEDRIVER_URL".into(), driver.url.clone()),
        ("BROWSER_STORE_URLS".into(), urls),
        ("BROWSER_RECIPES_DIR".into(), stores_dir()),
        (
            "BROWSER_EVIDENCE_DIR".into(),
            evidence.display().to_string(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    vars.extend(env.vars.iter().cloned());
    vars.push(("DATABASE_URL".into(), env.app.database_url.clone()));
    let config = BrowserConfig::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("browser config");
    let worker = BrowserPlacement::new(config, env.config.broker.max_attempts)
        .await
        .expect("worker");
    if in_process {
        env.spawn_handler(worker.clone());
    }
    World {
        vars,
        env,
        node,
        site,
        _driver: driver,
        worker,
        evidence,
        http: reqwest::Client::new(),
    }
}

pub fn uuid_like() -> String {
    cartwright_shared::ids::new_secret(10).to_lowercase()
}

impl World {
    /// A paid order for `items` (one store), set `placing` and announced to the worker.
    pub async fn order(&self, items: Value) -> String {
        self.order_paid_until(items, "6 days").await
    }

    /// [`Self::order`] whose checkout's authorization must be captured within `lapses_in`.
    pub async fn order_paid_until(&self, items: Value, lapses_in: &str) -> String {
        self.order_with(items, lapses_in, None).await
    }

    /// [`Self::order`] whose stored shipping address has `line1`, written past intake's
    /// checks (as an address stored before a check existed would be).
    pub async fn order_shipped_to(&self, items: Value, line1: &str) -> String {
        self.order_with(items, "6 days", Some(line1)).await
    }

    async fn order_with(&self, items: Value, lapses_in: &str, line1: Option<&str>) -> String {
        let mut body = cartwright_testkit::demo_checkout();
        body["items"] = items;
        let response = self.env.app.submit(&uuid_like(), &body).await;
        assert_eq!(response.status(), 202);
        let checkout: Value = response.json().await.unwrap();
        let order = &checkout["orders"][0];
        let number = order["number"].as_str().unwrap().to_owned();
        let pool = &self.env.app.pool;
        let store: String = sqlx::query_scalar("SELECT store_id FROM orders WHERE number = $1")
            .bind(&number)
            .fetch_one(pool)
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE orders SET status = 'placing' WHERE number = $1")
            .bind(&number)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE checkouts SET status = 'authorized', capture_before = now() + $2::interval
             WHERE id = $1",
        )
        .bind(checkout["id"].as_str().unwrap())
        .bind(lapses_in)
        .execute(&mut *tx)
        .await
        .unwrap();
        if let Some(line1) = line1 {
            sqlx::query(
                "UPDATE checkouts SET shipping_address = jsonb_set(shipping_address, '{line1}', to_jsonb($2::text))
                 WHERE id = $1",
            )
            .bind(checkout["id"].as_str().unwrap())
            .bind(line1)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        cartwright_shared::outbox::enqueue(
            &mut tx,
            "order.automated_placement",
            checkout["id"].as_str().unwrap(),
            &json!({"checkout_id": checkout["id"], "order_number": number, "store_id": store}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        number
    }

    /// How many orders have `status`.
    pub async fn count(&self, status: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = $1")
            .bind(status)
            .fetch_one(&self.env.app.pool)
            .await
            .unwrap()
    }

    pub async fn status(&self, number: &str) -> String {
        sqlx::query_scalar("SELECT status FROM orders WHERE number = $1")
            .bind(number)
            .fetch_one(&self.env.app.pool)
            .await
            .unwrap()
    }

    pub async fn settled(&self, number: &str, within: Duration) -> String {
        eventually(within, "the order to leave `placing`", || async {
            self.status(number).await != "placing"
        })
        .await;
        self.status(number).await
    }

    pub async fn manual_reason(&self, number: &str) -> Option<String> {
        sqlx::query_scalar(
            "SELECT payload->>'reason' FROM outbox
             WHERE message_type = 'order.manual_placement' AND payload->>'order_number' = $1",
        )
        .bind(number)
        .fetch_optional(&self.env.app.pool)
        .await
        .unwrap()
    }

    /// The order's total, the total paid and how far that was over the tolerance.
    pub async fn charge(&self, number: &str) -> (i64, Option<i64>, Option<i64>) {
        sqlx::query_as("SELECT total, total_paid, paid_over_expected FROM orders WHERE number = $1")
            .bind(number)
            .fetch_one(&self.env.app.pool)
            .await
            .unwrap()
    }

    /// `alert.total_over_expected` rows about the order, raised by the browser worker.
    pub async fn total_alerts(&self, number: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM ops_audit WHERE action = 'alert.total_over_expected'
             AND target = $1 AND actor = 'system:browser'",
        )
        .bind(format!("order:{number}"))
        .fetch_one(&self.env.app.pool)
        .await
        .unwrap()
    }

    pub async fn retailer_orders(&self) -> Vec<Value> {
        self.http
            .get(self.site.url("/_admin/orders"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn switch(&self, store: &str, sku: &str, scenario: &str) {
        let response = self
            .http
            .post(self.site.url("/_admin/scenarios"))
            .json(&json!({"store": store, "sku": sku, "scenario": scenario}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    /// `scenario` on every product of `store`.
    pub async fn switch_store(&self, store: &str, scenario: &str) {
        let response = self
            .http
            .post(self.site.url("/_admin/scenarios"))
            .json(&json!({"store": store, "scenario": scenario}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    pub async fn stop(self) {
        self.env.stop().await;
        self.worker.close_sessions().await;
        drop(self.node);
        let _ = std::fs::remove_dir_all(&self.evidence);
    }
}
