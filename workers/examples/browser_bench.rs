//! Seconds per order with a warm browser session, and orders per minute with the pool
//! at its default size, against an in-process demo retailer (no database, no broker:
//! this measures the browser part alone). Needs chromedriver and Chromium.
//!
//!     cargo run -p cartwright-workers --example browser_bench -- [orders]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cartwright_workers::placement_browser::driver::{Chromedriver, Pool};
use cartwright_workers::placement_browser::execute::{self, Job, Line};
use cartwright_workers::placement_browser::{BrowserConfig, recipe};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let orders: usize = std::env::args().nth(1).map_or(Ok(20), |n| n.parse())?;
    let site = demo_retailer::spawn(demo_retailer::Config {
        slow_delay: Duration::from_secs(1),
    })
    .await?;
    let config = BrowserConfig::from_lookup(|_| None)?;
    let recipes = Arc::new(recipe::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stores"),
    )?);
    let driver = Chromedriver::start(&config.chromedriver_binary).await?;
    let pool = Arc::new(Pool::new(driver.url.clone(), &config));
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
    let address = Arc::new(address);

    let one = |store: &'static str, sku: &'static str, price: i64| {
        let (pool, recipes, address) = (pool.clone(), recipes.clone(), address.clone());
        let base = site.url(&format!("/{store}"));
        let step_timeout = config.step_timeout;
        async move {
            let lease = pool.acquire(store).await?;
            let lines = [Line {
                sku: sku.into(),
                quantity: 1,
                unit_price: price,
            }];
            let job = Job {
                recipe: &recipes[store],
                base_url: &base,
                lines: &lines,
                address: &address,
                step_timeout,
            };
            let client = lease.session.client.clone();
            let result = async {
                execute::prepare(&client, &job).await?;
                execute::submit(&client, &job).await
            }
            .await;
            pool.release(store, lease, result.is_ok()).await;
            result.map_err(|e| anyhow::anyhow!("{e:?}"))
        }
    };

    // Warm up one session, then time orders one after another on it.
    one("nordwind", "NORD-1006", 7900).await?;
    let started = Instant::now();
    for _ in 0..orders {
        one("nordwind", "NORD-1006", 7900).await?;
    }
    let per_order = started.elapsed().as_secs_f64() / orders as f64;
    println!("warm session, one at a time: {per_order:.2} s per order");

    // Both stores at once, the pool at its default size.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..orders * 2 {
        let job = if i % 2 == 0 {
            one("nordwind", "NORD-1006", 7900)
        } else {
            one("rackhouse", "RACK-2003", 3999)
        };
        tasks.spawn(job);
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!(
        "pool of {} ({} per store), two stores: {:.1} orders per minute",
        config.pool_size,
        config.per_store_limit,
        (orders * 2) as f64 / minutes
    );
    pool.close_idle().await;
    Ok(())
}
