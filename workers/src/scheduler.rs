//! Scheduled jobs: each runs on its own interval, and each is safe with several worker
//! replicas running it at once (the jobs claim their rows with SKIP LOCKED).

use std::time::Duration;

use cartwright_shared::reservations;
use cartwright_shared::retention::{self, Retention};
use cartwright_shared::shutdown::Shutdown;
use sqlx::PgPool;

use crate::context::WorkerContext;

pub async fn run(ctx: WorkerContext) {
    let reaper_every = ctx.config.reservations.reaper_interval;
    tracing::info!(
        interval_secs = reaper_every.as_secs(),
        "scheduler started: reservation reaper, retention"
    );
    let pool = ctx.pool;
    let retention = ctx.config.retention.clone();
    tokio::join!(
        every(
            reaper_every,
            ctx.shutdown.clone(),
            || release_expired_holds(&pool)
        ),
        every(RETENTION_EVERY, ctx.shutdown, || purge_old_rows(
            &pool, &retention
        )),
    );
}

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

async fn purge_old_rows(pool: &PgPool, retention: &Retention) {
    match retention::purge(pool, retention).await {
        Ok(purged) => tracing::info!(?purged, "purged old bookkeeping rows"),
        Err(err) => tracing::warn!(error = %err, "retention pass failed"),
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

async fn every<F, Fut>(period: Duration, mut shutdown: Shutdown, job: F)
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
