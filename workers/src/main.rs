use anyhow::Context;
use cartwright_shared::{config::Config, db, telemetry};
use cartwright_workers::{reaper, shutdown::Shutdown};
use clap::{Parser, Subcommand};

/// Cartwright's background workers.
#[derive(Parser)]
#[command(name = "cartwright-workers", version)]
struct Cli {
    #[command(subcommand)]
    worker: Worker,
}

#[derive(Subcommand)]
enum Worker {
    /// Every worker in one process.
    All,
    /// Scheduled jobs: release expired stock holds.
    Reaper,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    let pool = db::connect(&config.database)
        .await
        .context("connecting to the database")?;
    db::migrate(&pool).await.context("applying migrations")?;
    let shutdown = Shutdown::on_signals();

    let every = config.reservations.reaper_interval;
    match cli.worker {
        Worker::All | Worker::Reaper => {
            tracing::info!(interval_secs = every.as_secs(), "reaper started");
            reaper::run(pool, every, shutdown).await;
        }
    }
    tracing::info!("workers stopped");
    Ok(())
}
