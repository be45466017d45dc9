//! What the server needs to know beyond its listening socket.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// How long the `slow` scenario holds each page back.
    pub slow_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            slow_delay: Duration::from_secs(8),
        }
    }
}
