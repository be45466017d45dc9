//! What any one request may take of the process: a place among `API_MAX_IN_FLIGHT`
//! requests and `API_REQUEST_TIMEOUT_SECS`. A request that finds every place taken is
//! answered 503 `overloaded` at once (load shedding) rather than queued behind a backlog
//! whose clients have given up; one that runs out of time is dropped (its transaction
//! rolls back) and answered 408 `request_timeout`.

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::error::Elapsed;
use tower::{BoxError, ServiceBuilder};

use crate::error::ApiError;

pub fn apply(router: Router, max_in_flight: usize, timeout: Duration) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |err: BoxError| async move {
                refusal(&err, timeout)
            }))
            .load_shed()
            // Global: `Router::layer` wraps each route, and every route shares one count.
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight))
            .timeout(timeout),
    )
}

fn refusal(err: &BoxError, timeout: Duration) -> ApiError {
    if err.is::<Overloaded>() {
        ApiError::Overloaded
    } else if err.is::<Elapsed>() {
        ApiError::TimedOut { after: timeout }
    } else {
        ApiError::Internal(anyhow::anyhow!("request middleware failed: {err}"))
    }
}
