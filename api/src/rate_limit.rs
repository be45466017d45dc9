//! Per-API-key rate limit on intake: a token bucket (GCRA, from `governor`) per key.
//! It lives in the process, so with N API replicas a key gets N times the rate; a
//! shared limiter (Redis) is the step up if that ever matters more than simplicity.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};
use uuid::Uuid;

pub struct RateLimiter {
    inner: Option<Governor<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock>>,
}

impl RateLimiter {
    /// `per_second == 0` turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let inner = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            Governor::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { inner }
    }

    /// `Err(wait)` when the key has used up its allowance.
    pub fn check(&self, key: Uuid) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
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
