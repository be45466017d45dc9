//! A token bucket (GCRA, from `governor`) per key: intake per API key, and requests
//! without a valid key per client address (`address_limit`). It lives in the process,
//! so with N API replicas a key gets N times the rate; a shared limiter (Redis) is the
//! step up if that ever matters more than simplicity.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

/// Past this many keys tracked (a flood from many addresses), buckets that are full
/// again are dropped: they hold nothing a fresh bucket would not.
const MAX_TRACKED: usize = 100_000;

pub struct RateLimiter<K: Hash + Eq + Clone> {
    inner: Option<Governor<K, DefaultKeyedStateStore<K>, DefaultClock>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `per_second == 0` turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let inner = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            Governor::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { inner }
    }

    /// `Err(wait)` when the key has used up its allowance.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn refuses_past_the_burst_and_keeps_keys_apart() {
        let limiter = RateLimiter::new(1, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).expect_err("third within a second");
        assert!(wait <= Duration::from_secs(1));
        assert!(limiter.check(b).is_ok(), "another key has its own bucket");
    }

    #[test]
    fn zero_means_off() {
        let limiter = RateLimiter::new(0, 0);
        let key = Uuid::new_v4();
        assert!((0..1000).all(|_| limiter.check(key).is_ok()));
    }
}
