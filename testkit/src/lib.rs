//! The test harness. Each test gets its own database, cloned in milliseconds from a
//! template that is migrated and seeded once per schema version, and its own API on
//! port 0, so tests run in parallel without seeing each other's rows.
//!
//! Test databases are named `cwt_<unix seconds>_<random>`; ones older than an hour are
//! dropped whenever a test asks for a database, so repeated runs do not fill the disk.

pub mod broker;
pub mod logs;
pub mod procs;
pub mod smtp;
pub mod test_handler;
pub mod webdriver;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cartwright_api::Application;
use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::config::Config;
use cartwright_shared::demo;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// The server every test database lives on; `TEST_DATABASE_URL` without a database name.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".to_owned())
}

fn template_name() -> String {
    // The template is rebuilt whenever a migration or the demo seed changes.
    let mut hasher = Sha256::new();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut files: Vec<_> = std::fs::read_dir(migrations)
        .expect("migrations folder")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    for file in files {
        hasher.update(std::fs::read(&file).expect("migration file"));
    }
    hasher.update(include_str!("../../shared/src/demo.rs"));
    format!("cwt_template_{}", &hex::encode(hasher.finalize())[..16])
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("connect to the test PostgreSQL server (is it running? scripts/services)")
}

async fn ensure_template(conn: &mut PgConnection) -> String {
    let name = template_name();
    // One builder at a time across every test process.
    sqlx::query("SELECT pg_advisory_lock(7461)")
        .execute(&mut *conn)
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut *conn)
            .await
            .expect("query");
    if !exists {
        let building = format!("{name}_building");
        exec(
            conn,
            &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        )
        .await;
        exec(conn, &format!("CREATE DATABASE {building}")).await;
        let pool = PgPool::connect(&format!("{}/{building}", server_url()))
            .await
            .expect("connect template");
        cartwright_shared::db::migrate(&pool)
            .await
            .expect("migrate template");
        demo::seed(&pool).await.expect("seed template");
        pool.close().await;
        // Renamed only when complete: a crashed build never passes for a template.
        exec(conn, &format!("ALTER DATABASE {building} RENAME TO {name}")).await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7461)")
        .execute(&mut *conn)
        .await
        .expect("unlock");
    drop_stale(conn).await;
    name
}

/// Drops a few test databases over an hour old. A few per call: each DROP DATABASE
/// forces a checkpoint, so clearing hundreds at once would stall one test for minutes;
/// spread over every test, cleanup keeps pace with creation. Templates stay: another
/// checkout on the same server (a branch with other migrations) may be using its own.
async fn drop_stale(conn: &mut PgConnection) {
    const PER_CALL: usize = 4;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'cwt_%'")
            .fetch_all(&mut *conn)
            .await
            .expect("list databases");
    let now = unix_now();
    let mut dropped = 0;
    for name in names {
        let created = name
            .strip_prefix("cwt_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if dropped < PER_CALL && created.is_some_and(|secs| now.saturating_sub(secs) > 3600) {
            dropped += 1;
            // Another test process may be dropping the same one: either way it goes.
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A fresh database with the schema and the demo catalog; returns its URL.
pub async fn fresh_database() -> String {
    let mut conn = admin().await;
    let template = ensure_template(&mut conn).await;
    let name = format!(
        "cwt_{}_{}",
        unix_now(),
        cartwright_shared::ids::new_secret(10).to_lowercase()
    );
    exec(
        &mut conn,
        &format!("CREATE DATABASE {name} TEMPLATE {template}"),
    )
    .await;
    format!("{}/{name}", server_url())
}

/// A config pointing at `database_url`, binding port 0, with intake rate limits off.
pub fn config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("API_BIND".into(), "127.0.0.1:0".into()),
        ("RATE_LIMIT_PER_SECOND".into(), "0".into()),
        ("DATABASE_MAX_CONNECTIONS".into(), "10".into()),
        // The tests reach the console over plain HTTP, as `scripts/up` does.
        ("CONSOLE_PLAIN_HTTP".into(), "true".into()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test config")
}

/// A running API on its own database, with a storefront key and an ops key.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub database_url: String,
    pub client: reqwest::Client,
    pub storefront_key: String,
    pub ops_key: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns with extra configuration, e.g. `[("RATE_LIMIT_PER_SECOND", "2")]`.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let database_url = fresh_database().await;
        let config = config(&database_url, extra);
        let pool = PgPoolOptions::new()
            .max_connections(config.database.max_connections)
            .connect(&database_url)
            .await
            .expect("connect test database");
        let app = Application::with_pool(config, pool.clone())
            .await
            .expect("build app");
        let address = format!("http://{}", app.local_addr().expect("bound"));
        tokio::spawn(app.run_until_stopped());
        let storefront_key = api_keys::create(&pool, "shop-a", Role::Storefront)
            .await
            .expect("key");
        let ops_key = api_keys::create(&pool, "ops-alice", Role::Ops)
            .await
            .expect("key");
        Self {
            address,
            pool,
            database_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            storefront_key,
            ops_key,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Another key, for a second storefront or ops user.
    pub async fn key(&self, principal: &str, role: Role) -> String {
        api_keys::create(&self.pool, principal, role)
            .await
            .expect("key")
    }

    /// `POST /v1/checkouts` as the test storefront.
    pub async fn submit(
        &self,
        idempotency_key: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/v1/checkouts"))
            .bearer_auth(&self.storefront_key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with `key`; the status and the JSON body (`Null` when not JSON).
    pub async fn get_json(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        (
            response.status().as_u16(),
            response.json().await.unwrap_or_default(),
        )
    }

    /// `method path` with `key` and a JSON body; the status and the JSON answer.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        (
            response.status().as_u16(),
            response.json().await.unwrap_or_default(),
        )
    }

    /// Submits the demo checkout and puts its first order into the manual placement
    /// queue (reason `store_is_manual`), as the router and the intake worker would;
    /// returns the order number.
    pub async fn manual_queue_order(&self, idempotency_key: &str) -> String {
        use cartwright_shared::placement::{ManualPlacement, manual_queue};
        let response = self.submit(idempotency_key, &demo_checkout()).await;
        assert_eq!(response.status(), 202);
        let checkout: serde_json::Value = response.json().await.expect("checkout");
        let order = &checkout["orders"][0];
        let number = order["number"].as_str().expect("number").to_owned();
        let mut tx = self.pool.begin().await.expect("begin");
        sqlx::query("UPDATE orders SET status = 'ready_for_placement' WHERE number = $1")
            .bind(&number)
            .execute(&mut *tx)
            .await
            .expect("ready");
        // Paid for, as the payment worker leaves it: only then may anyone buy it.
        sqlx::query(
            "UPDATE checkouts SET status = 'authorized', capture_before = now() + interval '6 days'
             WHERE id = $1",
        )
        .bind(checkout["id"].as_str().expect("id"))
        .execute(&mut *tx)
        .await
        .expect("authorized");
        let message = ManualPlacement {
            checkout_id: checkout["id"].as_str().expect("id").to_owned(),
            order_number: number.clone(),
            store_id: order["store"].as_str().expect("store").to_owned(),
            reason: "store_is_manual".to_owned(),
        };
        let outcome = manual_queue::enqueue(&mut tx, &message, "system:placement-manual")
            .await
            .expect("enqueue");
        assert_eq!(outcome, manual_queue::Enqueued::Queued);
        tx.commit().await.expect("commit");
        number
    }

    /// Rows in a table: the "nothing written" check.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Sets a SKU's stock and clears its holds.
    pub async fn set_stock(&self, sku: &str, stock: i32) {
        sqlx::query("UPDATE skus SET stock = $2, reserved = 0 WHERE sku = $1")
            .bind(sku)
            .bind(stock)
            .execute(&self.pool)
            .await
            .expect("set stock");
    }

    /// Runs the reaper as if the checkout's holds had run out a second ago.
    pub async fn run_out_holds(
        &self,
        checkout_id: &str,
    ) -> cartwright_shared::reservations::Reaped {
        sqlx::query(
            "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE checkout_id = $1",
        )
        .bind(checkout_id)
        .execute(&self.pool)
        .await
        .expect("expire holds");
        cartwright_shared::reservations::release_expired(&self.pool)
            .await
            .expect("reaper")
    }
}

/// The two-store demo checkout from the intake documentation.
pub fn demo_checkout() -> serde_json::Value {
    serde_json::json!({
        "customer": {"email": "jane@example.com", "name": "Jane Doe", "phone": "+14155550100"},
        "shipping_address": {"name": "Jane Doe", "line1": "123 Main St", "line2": null,
            "city": "San Francisco", "state": "CA", "postal_code": "94102", "country": "US"},
        "items": [{"sku": "NORD-1001", "quantity": 2}, {"sku": "RACK-2001", "quantity": 1}],
        "payment_method": "pm_card_visa",
        "currency": "usd"
    })
}
