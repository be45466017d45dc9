use std::sync::Arc;

use anyhow::Context;
use cartwright_shared::queue::broker::SharedConnection;
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::queue::{dead_letters, relay, work_queues};
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::{config::Config, db, prometheus, telemetry};
use cartwright_workers::context::WorkerContext;
use cartwright_workers::{
    notify, payments, placement_browser, placement_manual, placement_router, scheduler,
    stripe_events,
};
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
    /// Scheduled jobs (the reservation reaper, the capture-deadline guard).
    Scheduler,
    /// Authorize, settle (capture or cancel) and refund payments with Stripe.
    Payments,
    /// Apply verified Stripe webhook events.
    StripeEvents,
    /// Move dead-lettered messages into the dead_letters table for ops.
    DeadLetters,
    /// Customer emails (queue `emails`).
    Emails,
    /// Low-stock alerts to ops by email and webhook (queue `alerts`).
    Alerts,
    /// Send each paid order to its store's placement mode.
    PlacementRouter,
    /// Put orders that need a person into the manual queue.
    PlacementManual,
    /// Buy automated stores' orders on their websites (headless Chromium).
    PlacementBrowser,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let worker = Cli::parse().worker;
    tracing::info!("starting");
    let config = Config::from_env()?;
    let pool = db::connect_and_migrate(&config.database)
        .await
        .context("connecting to the database and applying migrations")?;
    prometheus::serve(config.broker.workers_metrics_bind)
        .context("serving /metrics (WORKERS_METRICS_BIND)")?;
    let ctx = WorkerContext {
        pool,
        topology: Topology::new(&config.broker),
        broker: SharedConnection::new(&config.broker, "cartwright-workers"),
        config: Arc::new(config),
        shutdown: Shutdown::on_signals(),
    };

    let runs = |w| worker == w || worker == Worker::All;
    let mut tasks = tokio::task::JoinSet::new();
    if runs(Worker::Relay) {
        tasks.spawn(relay::run(
            ctx.pool.clone(),
            ctx.config.broker.clone(),
            ctx.topology.clone(),
            ctx.shutdown.clone(),
        ));
    }
    if runs(Worker::Scheduler) {
        tasks.spawn(scheduler::run(ctx.clone()));
    }
    if runs(Worker::Payments) {
        tasks.spawn(payments::run(ctx.clone()));
    }
    if runs(Worker::StripeEvents) {
        tasks.spawn(stripe_events::run(ctx.clone()));
    }
    if runs(Worker::DeadLetters) {
        tasks.spawn(dead_letters::archive(
            ctx.pool.clone(),
            ctx.broker.clone(),
            ctx.topology.clone(),
            work_queues::all(),
            ctx.shutdown.clone(),
        ));
    }
    if runs(Worker::Emails) || runs(Worker::Alerts) {
        let (emails, alerts) = notify::build(&ctx.config.notifications, ctx.pool.clone())
            .context("configuring notifications")?;
        if runs(Worker::Emails) {
            tasks.spawn(notify::run_emails(ctx.clone(), emails));
        }
        if runs(Worker::Alerts) {
            tasks.spawn(notify::run_alerts(ctx.clone(), alerts));
        }
    }
    if runs(Worker::PlacementRouter) {
        tasks.spawn(placement_router::run(ctx.clone()));
    }
    if runs(Worker::PlacementManual) {
        tasks.spawn(placement_manual::run(ctx.clone()));
    }
    if runs(Worker::PlacementBrowser) {
        tasks.spawn(placement_browser::run(ctx.clone()));
    }
    while tasks.join_next().await.is_some() {}
    ctx.broker.close().await;
    tracing::info!("workers stopped");
    Ok(())
}
