//! Scheduled jobs: each runs on its own interval, and each is safe with several worker
//! replicas running it at once (the jobs claim their rows with SKIP LOCKED).

use std::time::Duration;

use cartwright_shared::placement::{manual_queue, queue_notice};
use cartwright_shared::reservations;
use cartwright_shared::retention::{self, Retention};
use cartwright_shared::shutdown::Shutdown;
use cartwright_shared::status::actor;
use sqlx::PgPool;

use crate::context::WorkerContext;
use crate::payments::{deadline, stripe::Stripe};

/// How often the capture-deadline guard looks for authorizations about to lapse.
const CAPTURE_GUARD_EVERY: Duration = Duration::from_secs(300);
/// How often the scheduler asks whether a manual-queue notice is due: an order that
/// enters a queue quiet for longer than the notice period is told within this long.
const QUEUE_NOTICE_CHECK_EVERY: Duration = Duration::from_secs(15);

pub async fn run(ctx: WorkerContext) {
    let reaper_every = ctx.config.reservations.reaper_interval;
    let sweep_every = ctx.config.placement.sweep_interval;
    tracing::info!(
        reaper_secs = reaper_every.as_secs(),
        lease_sweep_secs = sweep_every.as_secs(),
        queue_notice_secs = ctx
            .config
            .placement
            .queue_notify_interval
            .map(|d| d.as_secs()),
        "scheduler started: reservation reaper, placement lease sweep, capture-deadline guard, retention, manual-queue notices"
    );
    let stripe = match Stripe::new(&ctx.config.stripe) {
        Ok(stripe) => stripe,
        Err(err) => {
            tracing::error!(error = %err, "scheduler cannot start");
            return;
        }
    };
    let pool = ctx.pool;
    let retention = ctx.config.retention.clone();
    let notice_period = ctx.config.placement.queue_notify_interval;
    tokio::join!(
        every(
            reaper_every,
            ctx.shutdown.clone(),
            || release_expired_holds(&pool)
        ),
        every(
            sweep_every,
            ctx.shutdown.clone(),
            || release_expired_leases(&pool)
        ),
        every(CAPTURE_GUARD_EVERY, ctx.shutdown.clone(), || {
            capture_deadline(&pool, &stripe)
        }),
        every(RETENTION_EVERY, ctx.shutdown.clone(), || purge_old_rows(
            &pool, &retention
        )),
        async {
            if let Some(period) = notice_period {
                every(period.min(QUEUE_NOTICE_CHECK_EVERY), ctx.shutdown, || {
                    notify_orders_waiting(&pool, period)
                })
                .await;
            }
        },
    );
}

/// Tells ops, at most once per `period`, that orders have entered the manual queue.
pub async fn notify_orders_waiting(pool: &PgPool, period: Duration) {
    match queue_notice::notify_if_due(pool, period, actor::QUEUE_NOTICE).await {
        Ok(Some(waiting)) => {
            tracing::info!(waiting, "told ops that orders wait in the manual queue")
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "manual-queue notice failed"),
    }
}

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

async fn purge_old_rows(pool: &PgPool, retention: &Retention) {
    match retention::purge(pool, retention).await {
        Ok(purged) => tracing::info!(?purged, "purged old bookkeeping rows"),
        Err(err) => tracing::warn!(error = %err, "retention pass failed"),
    }
}

/// Returns manual-queue claims whose lease ran out to the queue.
pub async fn release_expired_leases(pool: &PgPool) {
    match manual_queue::release_expired(pool, actor::PLACEMENT_SWEEP).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "expired placement claims returned to the queue"),
        Err(err) => tracing::warn!(error = %err, "placement lease sweep failed"),
    }
}

async fn capture_deadline(pool: &PgPool, stripe: &Stripe) {
    match deadline::run_once(pool, stripe).await {
        Ok(0) => {}
        Ok(settled) => tracing::warn!(settled, "capture deadline: settled checkouts early"),
        Err(err) => tracing::warn!(error = %err, "capture-deadline pass failed"),
    }
}

async fn release_expired_holds(pool: &PgPool) {
    match reservations::release_expired(pool).await {
        Ok(reaped) if reaped.holds_released > 0 => tracing::info!(
            holds_released = reaped.holds_released,
            checkouts_expired = reaped.checkouts_expired,
            "released expired stock holds"
        ),
        Ok(_) => {}
        // The next tick tries again; a database outage must not kill the worker.
        Err(err) => tracing::warn!(error = %err, "reaper pass failed"),
    }
}

/// Runs `job` every `period` (a late tick waits, never bunches up) until shutdown.
pub async fn every<F, Fut>(period: Duration, mut shutdown: Shutdown, job: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => job().await,
            () = shutdown.requested() => return,
        }
    }
}
