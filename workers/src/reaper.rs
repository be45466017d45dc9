//! The reservation reaper: returns expired stock holds to available stock and expires
//! checkouts that were never paid. Safe with several replicas (SKIP LOCKED batches).

use std::time::Duration;

use cartwright_shared::reservations;
use sqlx::PgPool;

use crate::shutdown::Shutdown;

pub async fn run(pool: PgPool, every: Duration, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.requested() => return,
        }
        match reservations::release_expired(&pool).await {
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
}
