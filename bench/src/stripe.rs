//! The external limit for the end-to-end figure: the Stripe emulator's own rate for the
//! calls one checkout makes (a confirmed manual-capture PaymentIntent, then its capture),
//! sent through the payment worker's own client (`payments::stripe::Stripe`) with no
//! database or queue in between.
//!
//!   cargo run --release -p cartwright-bench --bin stripe -- \
//!       --api-base http://127.0.0.1:12111/ --payments 2000 --concurrency 32

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cartwright_bench::results;
use cartwright_shared::config::StripeConfig;
use cartwright_workers::payments::stripe::Stripe;
use clap::Parser;
use secrecy::SecretString;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:12111/")]
    api_base: String,
    #[arg(long, default_value = "sk_test_cartwright_dev")]
    secret_key: String,
    /// Payments (authorize + capture) in all.
    #[arg(long, default_value_t = 2000)]
    payments: usize,
    /// Payments in flight at once (the payment worker's prefetch).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Also write the figure to `<dir>/stripe.json` (for `report`).
    #[arg(long)]
    results: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stripe = Stripe::new(&StripeConfig {
        secret_key: SecretString::from(args.secret_key.clone()),
        api_base: args.api_base.clone(),
        webhook_secrets: Vec::new(),
        timeout: Duration::from_secs(20),
    })?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = args.payments.div_ceil(args.concurrency.max(1));
    for worker in 0..args.concurrency.max(1) {
        let (stripe, run) = (stripe.clone(), run.clone());
        let first = worker * per_task;
        let last = ((worker + 1) * per_task).min(args.payments);
        tasks.spawn(async move {
            for n in first..last {
                let checkout = format!("co_bench_{run}_{n}");
                let intent = stripe
                    .authorize(&checkout, 1000, "usd", "pm_card_visa")
                    .await
                    .map_err(|e| anyhow::anyhow!("authorize: {e:?}"))?;
                stripe
                    .capture(&checkout, intent.id.as_str(), 1000)
                    .await
                    .map_err(|e| anyhow::anyhow!("capture: {e:?}"))?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "Stripe emulator: {} payments (authorize + capture), {} at once: {:.0} payments/s",
        args.payments,
        args.concurrency,
        args.payments as f64 / seconds
    );
    if let Some(dir) = &args.results {
        let figure = results::Stripe {
            payments: args.payments,
            concurrency: args.concurrency,
            seconds,
        };
        results::write(dir, "stripe", &figure)?;
    }
    Ok(())
}
