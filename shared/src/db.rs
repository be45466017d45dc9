//! The connection pool and the migrations, which are embedded in every binary.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;

use crate::config::DatabaseConfig;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

pub async fn connect(config: &DatabaseConfig) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect(config.url.expose_secret())
        .await
}

pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}

/// How long a starting process waits for a database that is down or restarting.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// [`connect`] and [`migrate`] for a process starting up, riding out a database that is
/// restarting or failing over: a process restarted in that moment (a supervisor's
/// restart, a deploy) used to exit at once, and nothing restarted it again (the fault
/// drill saw the relay die so, and every message after it wait). Errors that waiting
/// cannot fix (a refused password, a broken migration) end it at once; a database
/// still away after [`STARTUP_WAIT`] ends it too, for the supervisor to report.
pub async fn connect_and_migrate(config: &DatabaseConfig) -> Result<PgPool, MigrateError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        let attempt = match connect(config).await {
            Ok(pool) => migrate(&pool).await.map(|()| pool),
            Err(err) => Err(MigrateError::Execute(err)),
        };
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(err) if is_transient(&err) && started.elapsed() < STARTUP_WAIT => {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64,
                    "the database is not answering yet; waiting for it");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(err),
        }
    }
}

/// A connection refused or cut, a pool timeout, or PostgreSQL saying it is starting,
/// shutting down or out of connections (SQLSTATE classes 08 and 57P, and 53300).
fn is_transient(err: &MigrateError) -> bool {
    let (MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _)) = err else {
        return false;
    };
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}
