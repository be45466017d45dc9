//! One shutdown signal for every worker in the process: SIGTERM or Ctrl-C flips a
//! watch channel that each loop selects on, so all stop taking work together.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Listens for SIGTERM and Ctrl-C.
    pub fn on_signals() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                () = term => {},
            }
            tracing::info!("shutdown requested: finishing work in flight");
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// A shutdown that fires when the returned sender sends `true` (for tests).
    pub fn manual() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested.
    pub async fn requested(&mut self) {
        // An error means the sender is gone: treat that as a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
