//! Building the app, binding its listener (port 0 in tests) and serving until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cartwright_shared::config::Config;
use cartwright_shared::db;
use cartwright_shared::queue::relay;
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::shutdown::Shutdown;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::address_limit::AddressLimit;
use crate::broker_health::BrokerHealth;
use crate::checkout::submit;
use crate::checkout::writer::IntakeWriters;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;
use crate::{limits, request_id, routes, serve};

pub struct Application {
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
}

impl Application {
    /// Connects, migrates and binds. The API applies migrations at start so a new
    /// release never serves against an old schema.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = db::connect_and_migrate(&config.database).await?;
        Self::with_pool(config, pool).await
    }

    pub async fn with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        // Installed before the first request, so nothing recorded is lost.
        cartwright_shared::prometheus::handle();
        let listener = TcpListener::bind(config.api.bind).await?;
        if config.broker.api_runs_relay {
            tokio::spawn(relay::run(
                pool.clone(),
                config.broker.clone(),
                Topology::new(&config.broker),
                Shutdown::on_signals(),
            ));
        }
        let state = AppState {
            broker: Arc::new(BrokerHealth::new(config.broker.clone())),
            keys: Arc::default(),
            intake: IntakeWriters::start(
                pool.clone(),
                config.api.intake_writers,
                submit::labels(config.reservations.ttl),
            ),
            pool,
            intake_limiter: Arc::new(RateLimiter::new(
                config.api.rate_limit_per_second,
                config.api.rate_limit_burst,
            )),
            without_key: AddressLimit::new(
                config.api.unauthenticated_per_second,
                config.api.unauthenticated_burst,
            ),
            config: Arc::new(config),
        };
        let header_read_timeout = state.config.api.header_read_timeout;
        let router = app(state);
        Ok(Self {
            listener,
            router,
            header_read_timeout,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut shutdown = Shutdown::on_signals();
        serve::serve(
            self.listener,
            self.router,
            self.header_read_timeout,
            async move { shutdown.requested().await },
        )
        .await;
        Ok(())
    }
}

pub fn app(state: AppState) -> Router {
    let (max_in_flight, timeout) = (
        state.config.api.max_in_flight,
        state.config.api.request_timeout,
    );
    limits::apply(routes::router(state), max_in_flight, timeout)
        .layer(axum::middleware::from_fn(request_id::middleware))
}
