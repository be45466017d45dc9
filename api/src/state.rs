//! What every handler can reach.

use std::sync::Arc;

use cartwright_shared::config::Config;
use sqlx::PgPool;

use uuid::Uuid;

use crate::address_limit::AddressLimit;
use crate::broker_health::BrokerHealth;
use crate::checkout::writer::IntakeWriters;
use crate::key_cache::KeyCache;
use crate::rate_limit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub intake_limiter: Arc<RateLimiter<Uuid>>,
    /// Requests without a valid key, per client address.
    pub without_key: Arc<AddressLimit>,
    pub broker: Arc<BrokerHealth>,
    pub keys: Arc<KeyCache>,
    pub intake: IntakeWriters,
}
