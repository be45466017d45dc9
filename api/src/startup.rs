//! Building the app, binding its listener (port 0 in tests) and serving until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use cartwright_shared::config::Config;
use cartwright_shared::db;
use cartwright_shared::queue::relay;
use cartwright_shared::queue::topology::Topology;
use cartwright_shared::shutdown::Shutdown;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::broker_health::BrokerHealth;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;
use crate::{request_id, routes};

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Connects, migrates and binds. The API applies migrations at start so a new
    /// release never serves against an old schema.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = db::connect(&config.database).await?;
        db::migrate(&pool).await?;
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
            pool,
            intake_limiter: Arc::new(RateLimiter::new(
                config.api.rate_limit_per_second,
                config.api.rate_limit_burst,
            )),
            config: Arc::new(config),
        };
        let router = app(state);
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut shutdown = Shutdown::on_signals();
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.requested().await })
            .await
    }
}

pub fn app(state: AppState) -> Router {
    routes::router(state).layer(axum::middleware::from_fn(request_id::middleware))
}
