//! Browser sessions: a bounded pool of headless Chromium sessions, through
//! chromedriver, with per-store and global limits.
//! A session is reused while it works, and closed after `session_max_orders` orders or
//! after any error, so a confused browser never carries into the next order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::BrowserConfig;

/// One browser session and how many orders it has done.
pub struct Session {
    pub client: Client,
    orders: u32,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A session lent out, with the permits that bound concurrency.
pub struct Lease {
    pub session: Session,
    _store: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

pub struct Pool {
    webdriver_url: String,
    chromium: Option<String>,
    max_orders: u32,
    page_load: Duration,
    global: Arc<Semaphore>,
    per_store_limit: usize,
    stores: Mutex<HashMap<String, Arc<Semaphore>>>,
    idle: Mutex<Vec<Session>>,
    stats: Arc<Stats>,
}

/// Instrumentation: sessions in use per store now and at most.
#[derive(Default)]
pub struct Stats {
    inner: Mutex<HashMap<String, (usize, usize)>>,
}

impl Stats {
    fn enter(&self, store: &str) {
        let mut map = self.inner.lock().expect("stats");
        let entry = map.entry(store.to_owned()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
        metrics::gauge!("cartwright_browser_sessions_in_use", "store" => store.to_owned())
            .set(entry.0 as f64);
    }

    fn leave(&self, store: &str) {
        let mut map = self.inner.lock().expect("stats");
        let entry = map.entry(store.to_owned()).or_default();
        entry.0 = entry.0.saturating_sub(1);
        metrics::gauge!("cartwright_browser_sessions_in_use", "store" => store.to_owned())
            .set(entry.0 as f64);
    }

    /// The most sessions one store had in use at once.
    pub fn max_in_use(&self, store: &str) -> usize {
        self.inner
            .lock()
            .expect("stats")
            .get(store)
            .map_or(0, |e| e.1)
    }
}

impl Pool {
    pub fn new(webdriver_url: String, config: &BrowserConfig) -> Self {
        Self {
            webdriver_url,
            chromium: config.chromium_binary.clone(),
            max_orders: config.session_max_orders,
            page_load: config.step_timeout,
            global: Arc::new(Semaphore::new(config.pool_size)),
            per_store_limit: config.per_store_limit,
            stores: Mutex::new(HashMap::new()),
            idle: Mutex::new(Vec::new()),
            stats: Arc::new(Stats::default()),
        }
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Waits for a free slot for `store`, then lends a warm session or starts one.
    pub async fn acquire(&self, store: &str) -> anyhow::Result<Lease> {
        let store_sem = self
            .stores
            .lock()
            .expect("pool")
            .entry(store.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_store_limit)))
            .clone();
        let store_permit = store_sem.acquire_owned().await?;
        let global_permit = self.global.clone().acquire_owned().await?;
        let warm = self.idle.lock().expect("pool").pop();
        let session = match warm {
            Some(session) => session,
            None => self.start_session().await?,
        };
        // A warm session keeps no basket or sign-in from the previous order.
        session.client.delete_all_cookies().await?;
        self.stats.enter(store);
        Ok(Lease {
            session,
            _store: store_permit,
            _global: global_permit,
        })
    }

    /// Gives a session back: kept warm when the order went well and it has orders
    /// left, closed otherwise.
    pub async fn release(&self, store: &str, lease: Lease, healthy: bool) {
        self.stats.leave(store);
        let mut session = lease.session;
        session.orders += 1;
        if healthy && session.orders < self.max_orders {
            self.idle.lock().expect("pool").push(session);
        } else {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.client.close()).await;
        }
    }

    /// Starts one session ahead of the first order, holding a slot meanwhile so the
    /// first order waits for it rather than starting another. Chromium takes about a
    /// second to start, most of a fresh worker's time to its first placement.
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        let _global = self.global.clone().acquire_owned().await?;
        let session = self.start_session().await?;
        self.idle.lock().expect("pool").push(session);
        Ok(())
    }

    /// Closes every idle session (at shutdown).
    pub async fn close_idle(&self) {
        let idle: Vec<Session> = std::mem::take(&mut *self.idle.lock().expect("pool"));
        for session in idle {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.client.close()).await;
        }
    }

    async fn start_session(&self) -> anyhow::Result<Session> {
        let dir =
            std::env::temp_dir().join(format!("cartwright-chromium-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let mut chrome = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,1600",
                format!("--user-data-dir={}", dir.display()),
            ]
        });
        if let Some(binary) = &self.chromium {
            chrome["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome);
        caps.insert(
            "timeouts".into(),
            json!({"pageLoad": self.page_load.as_millis() as u64, "script": 5000, "implicit": 0}),
        );
        let started = std::time::Instant::now();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.webdriver_url)
            .await
            .context("starting a browser session")?;
        tracing::info!(
            took_ms = started.elapsed().as_millis() as u64,
            "browser session started"
        );
        Ok(Session {
            client,
            orders: 0,
            _dir: TempDir(dir),
        })
    }
}
