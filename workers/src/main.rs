use anyhow::Context;
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::queue::{dead_letters, relay, work_queues};
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::{config::Config, db, prometheus, telemetry};
use cartwright_workers::scheduler;
use clap::{Parser, Subcommand};

/// Cartwright's background workers.
#[derive(Parser)]
#[command(name = "cartwright-workers", version)]
struct Cli {
    #[command(subcommand)]
    worker: Worker,
}

#[derive(Subcommand, Clone, Copy, PartialEq)]
enum Worker {
    /// Every worker in one process.
    All,
    /// Publish outbox rows to RabbitMQ.
    Relay,
    /// Scheduled jobs (the reservation reaper).
    Scheduler,
    /// Move dead-lettered messages into the dead_letters table for ops.
    DeadLetters,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let worker = Cli::parse().worker;
    let config = Config::from_env()?;
    let pool = db::connect(&config.database)
        .await
        .context("connecting to the database")?;
    db::migrate(&pool).await.context("applying migrations")?;
    prometheus::serve(config.broker.workers_metrics_bind)
        .context("serving /metrics (WORKERS_METRICS_BIND)")?;
    let shutdown = Shutdown::on_signals();
    let topology = Topology::new(&config.broker);

    let runs = |w| worker == w || worker == Worker::All;
    let mut tasks = tokio::task::JoinSet::new();
    if runs(Worker::Relay) {
        tasks.spawn(relay::run(
            pool.clone(),
            config.broker.clone(),
            topology.clone(),
            shutdown.clone(),
        ));
    }
    if runs(Worker::Scheduler) {
        tasks.spawn(scheduler::run(
            pool.clone(),
            config.reservations.reaper_interval,
            shutdown.clone(),
        ));
    }
    if runs(Worker::DeadLetters) {
        tasks.spawn(dead_letters::archive(
            pool.clone(),
            config.broker.clone(),
            topology.clone(),
            work_queues::all(),
            shutdown.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("workers stopped");
    Ok(())
}
