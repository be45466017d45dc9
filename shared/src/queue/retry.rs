//! When to try a failed message again, as data: a schedule of delays with jitter, a
//! maximum number of attempts, and a server's Retry-After honoured within bounds.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before retry 1, 2, …; retries past the end reuse the last delay.
    pub delays: Vec<Duration>,
    /// Deliveries in all, the first included, before the message is dead-lettered.
    pub max_attempts: u32,
    /// ± this fraction of randomness on each delay, so a burst of failures does not
    /// come back as a burst.
    pub jitter: f64,
}

/// What to do with a message whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Retry number `level + 1` after `delay`, through delay queue `level`.
    Retry {
        level: usize,
        delay: Duration,
    },
    DeadLetter,
}

impl RetryPolicy {
    /// `attempt` is how many deliveries ended in a retry so far (0 on the first).
    /// `retry_after` is a delay the failure asked for (HTTP 429/503); it is clamped to
    /// the longest delay of the schedule.
    pub fn next(&self, attempt: u32, retry_after: Option<Duration>) -> Next {
        if attempt + 1 >= self.max_attempts || self.delays.is_empty() {
            return Next::DeadLetter;
        }
        let last = self.delays.len() - 1;
        let scheduled_level = (attempt as usize).min(last);
        let longest = self.delays[last];
        match retry_after {
            Some(asked) => {
                let delay = asked.min(longest);
                // The first delay queue whose own delay is at least this long, so the
                // message does not wait behind longer ones in a shorter queue.
                let level = self.delays.iter().position(|d| *d >= delay).unwrap_or(last);
                Next::Retry { level, delay }
            }
            None => Next::Retry {
                level: scheduled_level,
                delay: self.jittered(self.delays[scheduled_level]),
            },
        }
    }

    fn jittered(&self, delay: Duration) -> Duration {
        if self.jitter <= 0.0 {
            return delay;
        }
        let factor = rand::rng().random_range((1.0 - self.jitter)..=(1.0 + self.jitter));
        delay.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            delays: [1, 5, 30].map(Duration::from_secs).to_vec(),
            max_attempts: 5,
            jitter: 0.2,
        }
    }

    #[test]
    fn delays_grow_then_repeat_then_dead_letter() {
        let p = RetryPolicy {
            jitter: 0.0,
            ..policy()
        };
        let secs = |attempt| match p.next(attempt, None) {
            Next::Retry { delay, .. } => Some(delay.as_secs()),
            Next::DeadLetter => None,
        };
        assert_eq!(
            (0..5).map(secs).collect::<Vec<_>>(),
            [Some(1), Some(5), Some(30), Some(30), None]
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = policy();
        for _ in 0..200 {
            let Next::Retry { delay, level } = p.next(1, None) else {
                panic!()
            };
            assert_eq!(level, 1);
            assert!((4.0..=6.0).contains(&delay.as_secs_f64()), "{delay:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let p = policy();
        assert_eq!(
            p.next(0, Some(Duration::from_secs(3))),
            Next::Retry {
                level: 1,
                delay: Duration::from_secs(3)
            }
        );
        assert_eq!(
            p.next(0, Some(Duration::from_secs(3600))),
            Next::Retry {
                level: 2,
                delay: Duration::from_secs(30)
            }
        );
        assert_eq!(p.next(4, Some(Duration::from_secs(1))), Next::DeadLetter);
    }
}
