//! `stripe-emulator`: serves the emulated Stripe API until interrupted.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use stripe_emulator::{Config, DeliveryPolicy, WebhookTarget};
use tracing_subscriber::EnvFilter;

/// A stateful, in-memory Stripe API emulator for development and tests. Never use it in production.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "STRIPE_EMULATOR_BIND", default_value = "127.0.0.1:12111")]
    bind: SocketAddr,
    /// API version reported in events and the Stripe-Version header.
    #[arg(long, env = "STRIPE_EMULATOR_API_VERSION", default_value = stripe_emulator::DEFAULT_API_VERSION)]
    api_version: String,
    /// Base URL browsers reach the emulator at (for 3-D Secure links); default http://{bind}.
    #[arg(long, env = "STRIPE_EMULATOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Webhook endpoint registered at start.
    #[arg(long, env = "STRIPE_EMULATOR_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The event types --webhook-url receives, comma-separated (Stripe's
    /// `enabled_events`); `*` is every type. A deployment subscribes only to what it
    /// handles: `cartwright stripe-webhook-events` prints Cartwright's list.
    #[arg(
        long,
        env = "STRIPE_EMULATOR_WEBHOOK_EVENTS",
        default_value = "*",
        value_delimiter = ',',
        requires = "webhook_url"
    )]
    webhook_events: Vec<String>,
    /// Signing secret for --webhook-url.
    #[arg(
        long,
        env = "STRIPE_EMULATOR_WEBHOOK_SECRET",
        default_value = "whsec_emulator",
        requires = "webhook_url"
    )]
    webhook_secret: String,
    /// Delivery attempts per event and endpoint.
    #[arg(long, env = "STRIPE_EMULATOR_WEBHOOK_ATTEMPTS", default_value_t = 5)]
    webhook_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles per retry.
    #[arg(
        long,
        env = "STRIPE_EMULATOR_WEBHOOK_BACKOFF_MS",
        default_value_t = 1000
    )]
    webhook_backoff_ms: u64,
    /// Longest wait between retries, in milliseconds.
    #[arg(
        long,
        env = "STRIPE_EMULATOR_WEBHOOK_MAX_BACKOFF_MS",
        default_value_t = 30_000
    )]
    webhook_max_backoff_ms: u64,
    /// Per-attempt timeout, in milliseconds.
    #[arg(
        long,
        env = "STRIPE_EMULATOR_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    webhook_timeout_ms: u64,
}

impl Args {
    fn into_config(self) -> Config {
        Config {
            bind: self.bind,
            api_version: self.api_version,
            public_url: self.public_url,
            webhook: self.webhook_url.map(|url| WebhookTarget {
                url,
                secret: self.webhook_secret,
                events: self.webhook_events,
            }),
            delivery: DeliveryPolicy {
                max_attempts: self.webhook_attempts.max(1),
                initial_backoff: Duration::from_millis(self.webhook_backoff_ms),
                max_backoff: Duration::from_millis(self.webhook_max_backoff_ms),
                timeout: Duration::from_millis(self.webhook_timeout_ms),
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Args::parse().into_config();
    if let Some(webhook) = &config.webhook {
        tracing::info!(url = %webhook.url, "webhook endpoint configured");
    }
    let handle = stripe_emulator::spawn(config).await?;
    tracing::info!(base_url = %handle.base_url, "ready; stop with Ctrl-C or SIGTERM");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
