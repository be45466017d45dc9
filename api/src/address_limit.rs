//! The allowance, per client address, of requests that carry no valid key: a missing,
//! unknown or revoked API key, a console sign-in, a health check. Each of those costs a
//! database look-up or is meant for probes, so an address flooding them is answered 429
//! before it costs anything, while a key known to be valid (`KeyCache`) never touches
//! this limit: a flood of bad keys cannot starve good ones.
//!
//! The address is the TCP peer. Behind a reverse proxy every client shares the proxy's
//! address: there the proxy should limit, and `UNAUTHENTICATED_PER_SECOND=0` turns this
//! off.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Extensions;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::state::AppState;

pub struct AddressLimit(RateLimiter<IpAddr>);

impl AddressLimit {
    pub fn new(per_second: u32, burst: u32) -> Arc<Self> {
        Arc::new(Self(RateLimiter::new(per_second, burst)))
    }

    /// Spends one of the address's requests without a valid key.
    pub fn spend(&self, extensions: &Extensions) -> Result<(), ApiError> {
        self.0
            .check(client_address(extensions))
            .map_err(|retry_after| ApiError::TooManyWithoutKey { retry_after })
    }
}

/// Set per connection by `serve`; a request built without one (no connection) counts
/// as one anonymous client.
fn client_address(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| {
            peer.ip()
        })
}

/// For routes that take no key at all: every request spends from the allowance.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.without_key.spend(request.extensions()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
