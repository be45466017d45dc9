//! Stripe-style object identifiers: a type prefix, an underscore and random alphanumerics.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A fresh id such as `pi_3Nx…` (24 random characters after the prefix).
pub fn new(prefix: &str) -> String {
    with_len(prefix, 24)
}

/// A fresh id with `len` random characters after `prefix_`.
pub fn with_len(prefix: &str, len: usize) -> String {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}_{suffix}")
}

/// Seconds since the Unix epoch, as Stripe's `created` fields are.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
