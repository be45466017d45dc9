//! `demo-retailer`: serves both demo stores until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use demo_retailer::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(about = "Cartwright's demo retailer sites (Nordwind Outfitters, Rackhouse Cycling)")]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "DEMO_RETAILER_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// How long the `slow` scenario holds each page back, in milliseconds.
    #[arg(long, env = "DEMO_RETAILER_SLOW_DELAY_MS", default_value_t = 8000)]
    slow_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let config = Config {
        slow_delay: Duration::from_millis(cli.slow_delay_ms),
    };
    let listener = TcpListener::bind(cli.bind).await?;
    demo_retailer::serve(listener, config, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
