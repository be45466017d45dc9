//! The browser worker's settings, from the environment, parsed once at start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// `BROWSER_RECIPES_DIR` (default `stores`): one `<store>.toml` per store.
    pub recipes_dir: PathBuf,
    /// `BROWSER_EVIDENCE_DIR` (default `var/evidence`): `<order>/<attempt>-<stage>.png|html`.
    pub evidence_dir: PathBuf,
    /// `CHROMEDRIVER_URL`: a running chromedriver; unset → start `CHROMEDRIVER_PATH`.
    pub chromedriver_url: Option<String>,
    pub chromedriver_binary: String,
    /// `BROWSER_RUN_DIR` (default `var/run`): the pidfiles of the chromedriver groups this
    /// host's workers started, so a worker can reap what a dead one left behind.
    pub run_dir: PathBuf,
    /// `CHROMIUM_PATH`: the browser binary, when chromedriver should not pick it.
    pub chromium_binary: Option<String>,
    /// `BROWSER_POOL_SIZE` (4): sessions at once, all stores.
    pub pool_size: usize,
    /// `BROWSER_PER_STORE_LIMIT` (2): sessions at once on one store's site.
    pub per_store_limit: usize,
    /// `BROWSER_SESSION_MAX_ORDERS` (25): a session is recycled after this many orders.
    pub session_max_orders: u32,
    /// `BROWSER_STEP_TIMEOUT_MS` (15000): the longest one step (page load, wait) may take.
    pub step_timeout: Duration,
    /// `BROWSER_ORDER_TIMEOUT_SECS` (120): the longest one order may take.
    pub order_timeout: Duration,
    /// `BROWSER_STORE_URLS` (`nordwind=http://…,rackhouse=…`): base URLs that win over
    /// `stores.website_url` and the recipe's default.
    pub store_urls: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct BrowserConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl BrowserConfig {
    pub fn from_env() -> Result<Self, BrowserConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BrowserConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        fn num<T: std::str::FromStr>(
            name: &'static str,
            raw: Option<String>,
            default: T,
        ) -> Result<T, BrowserConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match raw {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|e: T::Err| BrowserConfigError {
                    name,
                    problem: format!("cannot parse {raw:?}: {e}"),
                }),
            }
        }
        let positive = |name: &'static str, value: u64| {
            if value == 0 {
                Err(BrowserConfigError {
                    name,
                    problem: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        let mut store_urls = BTreeMap::new();
        if let Some(raw) = get("BROWSER_STORE_URLS") {
            for pair in raw.split(',') {
                let (store, url) = pair.split_once('=').ok_or_else(|| BrowserConfigError {
                    name: "BROWSER_STORE_URLS",
                    problem: format!("{pair:?} is not store=url"),
                })?;
                store_urls.insert(
                    store.trim().to_owned(),
                    url.trim().trim_end_matches('/').to_owned(),
                );
            }
        }
        Ok(Self {
            recipes_dir: get("BROWSER_RECIPES_DIR")
                .unwrap_or_else(|| "stores".into())
                .into(),
            evidence_dir: get("BROWSER_EVIDENCE_DIR")
                .unwrap_or_else(|| "var/evidence".into())
                .into(),
            chromedriver_url: get("CHROMEDRIVER_URL"),
            chromedriver_binary: get("CHROMEDRIVER_PATH").unwrap_or_else(|| "chromedriver".into()),
            run_dir: get("BROWSER_RUN_DIR")
                .unwrap_or_else(|| "var/run".into())
                .into(),
            chromium_binary: get("CHROMIUM_PATH"),
            pool_size: positive(
                "BROWSER_POOL_SIZE",
                num("BROWSER_POOL_SIZE", get("BROWSER_POOL_SIZE"), 4)?,
            )? as usize,
            per_store_limit: positive(
                "BROWSER_PER_STORE_LIMIT",
                num("BROWSER_PER_STORE_LIMIT", get("BROWSER_PER_STORE_LIMIT"), 2)?,
            )? as usize,
            session_max_orders: positive(
                "BROWSER_SESSION_MAX_ORDERS",
                num(
                    "BROWSER_SESSION_MAX_ORDERS",
                    get("BROWSER_SESSION_MAX_ORDERS"),
                    25,
                )?,
            )? as u32,
            step_timeout: Duration::from_millis(positive(
                "BROWSER_STEP_TIMEOUT_MS",
                num(
                    "BROWSER_STEP_TIMEOUT_MS",
                    get("BROWSER_STEP_TIMEOUT_MS"),
                    15_000,
                )?,
            )?),
            order_timeout: Duration::from_secs(positive(
                "BROWSER_ORDER_TIMEOUT_SECS",
                num(
                    "BROWSER_ORDER_TIMEOUT_SECS",
                    get("BROWSER_ORDER_TIMEOUT_SECS"),
                    120,
                )?,
            )?),
            store_urls,
        })
    }
}
