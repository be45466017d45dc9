//! Binding, routing and the in-process [`Handle`] tests use.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::middleware;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::Config;
use crate::{api, control, pipeline};

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Handle {
    /// `http://127.0.0.1:{port}`: pass it to `ClientBuilder::url`.
    pub base_url: String,
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Handle {
    /// A URL under the emulator, e.g. `handle.url("/_emulator/ledger")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(app: App) -> Router {
    let v1 = api::router().route_layer(middleware::from_fn_with_state(app.clone(), pipeline::v1));
    Router::new()
        .merge(v1)
        .merge(control::router())
        .fallback(api::unrecognized)
        .with_state(app)
}

/// Binds `config.bind` (port 0 picks a free port) and serves in the background.
pub async fn spawn(config: Config) -> anyhow::Result<Handle> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| base_url.clone());
    let public_url = public_url.trim_end_matches('/').to_owned();
    let app = App::new(config, public_url);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(err) = served.await {
            tracing::error!(%err, "stripe emulator server failed");
        }
    });
    tracing::info!(%addr, "stripe emulator listening");
    Ok(Handle {
        base_url,
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}
