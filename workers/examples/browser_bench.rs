//! Seconds per order with a warm browser session, and orders per minute at each pool
//! size, against an in-process demo retailer (no database, no broker: this measures the
//! browser part alone). Needs chromedriver and Chromium.
//!
//!     cargo run --release -p cartwright-workers --example browser_bench -- 20 --pools 1,2,4
//!
//! With `--results <dir>` it also writes `<dir>/browser.json` in the shape
//! `cartwright_bench::results::Browser` reads (bench/run does this).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartwright_workers::placement_browser::chromedriver::Chromedriver;
use cartwright_workers::placement_browser::driver::Pool;
use cartwright_workers::placement_browser::execute::{self, Job, Line, StepLog};
use cartwright_workers::placement_browser::recipe::Recipe;
use cartwright_workers::placement_browser::{BrowserConfig, recipe};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Orders per measurement (twice as many, over both stores, per pool size).
    #[arg(default_value_t = 20)]
    orders: usize,
    /// Pool sizes to measure; each store may use half the sessions (at least one).
    #[arg(long, value_delimiter = ',', default_value = "4")]
    pools: Vec<usize>,
    #[arg(long)]
    results: Option<PathBuf>,
}

struct Bench {
    site: demo_retailer::RetailerHandle,
    recipes: BTreeMap<String, Recipe>,
    address: BTreeMap<String, String>,
    step_timeout: Duration,
}

impl Bench {
    async fn one(&self, pool: &Pool, store: &str, sku: &str, price: i64) -> anyhow::Result<()> {
        let base = self.site.url(&format!("/{store}"));
        let lease = pool.acquire(store).await?;
        let lines = [Line {
            sku: sku.into(),
            quantity: 1,
            unit_price: price,
            options: Default::default(),
        }];
        let job = Job {
            recipe: &self.recipes[store],
            base_url: &base,
            lines: &lines,
            address: &self.address,
            // The demo catalog's currency.
            currency: "usd",
            // stores.price_tolerance_bps's default: the bench reads no database.
            price_tolerance_bps: 200,
            step_timeout: self.step_timeout,
            log: StepLog::default(),
        };
        let client = lease.session.client.clone();
        let result = async {
            execute::prepare(&client, &job).await?;
            execute::submit(&client, &job).await
        }
        .await;
        pool.release(store, lease, result.is_ok()).await;
        result
            .map(|_placed| ())
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// `n` orders alternating between the two stores, all queued at once on the pool.
    async fn both_stores(self: &Arc<Self>, pool: &Arc<Pool>, n: usize) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (bench, pool) = (self.clone(), pool.clone());
            tasks.spawn(async move {
                if i % 2 == 0 {
                    bench.one(&pool, "nordwind", "NORD-1006", 7900).await
                } else {
                    bench.one(&pool, "rackhouse", "RACK-2003", 3999).await
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let site = demo_retailer::spawn(demo_retailer::Config {
        slow_delay: Duration::from_secs(1),
    })
    .await?;
    let config = BrowserConfig::from_lookup(|_| None)?;
    let recipes =
        recipe::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stores"))?;
    let address: BTreeMap<String, String> = [
        ("name", "Ada Lovelace"),
        ("line1", "12 Analytical Way"),
        ("line2", ""),
        ("city", "Portland"),
        ("state", "OR"),
        ("postal_code", "97201"),
        ("country", "US"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let driver = Chromedriver::start(&config.chromedriver_binary, &config.run_dir).await?;
    let bench = Arc::new(Bench {
        site,
        recipes,
        address,
        step_timeout: config.step_timeout,
    });

    // Warm up one session, then time orders one after another on it.
    let pool = Pool::new(driver.url.clone(), &config);
    bench.one(&pool, "nordwind", "NORD-1006", 7900).await?;
    let started = Instant::now();
    for _ in 0..args.orders {
        bench.one(&pool, "nordwind", "NORD-1006", 7900).await?;
    }
    let warm = started.elapsed().as_secs_f64() / args.orders as f64;
    println!("warm session, one at a time: {warm:.2} s per order");
    pool.close_idle().await;

    let mut levels = Vec::new();
    for &size in &args.pools {
        let per_store = (size / 2).max(1);
        let config = BrowserConfig::from_lookup(|name| match name {
            "BROWSER_POOL_SIZE" => Some(size.to_string()),
            "BROWSER_PER_STORE_LIMIT" => Some(per_store.to_string()),
            _ => None,
        })?;
        let pool = Arc::new(Pool::new(driver.url.clone(), &config));
        // Open every session first: browser start-up is not the steady state.
        bench.both_stores(&pool, size.max(2)).await?;
        let orders = args.orders * 2;
        let started = Instant::now();
        bench.both_stores(&pool, orders).await?;
        let seconds = started.elapsed().as_secs_f64();
        let per_minute = orders as f64 / (seconds / 60.0);
        println!(
            "pool of {size} ({per_store} per store), two stores: {per_minute:.1} orders per minute"
        );
        levels.push(json!({
            "pool": size,
            "orders": orders,
            "seconds_per_order": seconds / orders as f64 * size as f64,
            "orders_per_minute": per_minute,
        }));
        pool.close_idle().await;
    }
    if let Some(dir) = &args.results {
        std::fs::create_dir_all(dir)?;
        let body = json!({ "warm_seconds_per_order": warm, "levels": levels });
        std::fs::write(dir.join("browser.json"), serde_json::to_vec_pretty(&body)?)?;
    }
    Ok(())
}
