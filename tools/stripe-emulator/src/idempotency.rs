//! Stripe's idempotency keys: the first response to a POST with an `Idempotency-Key` is
//! saved (per API key) and replayed for retries with the same parameters; the same key with
//! different parameters is an `idempotency_error`. As Stripe documents, only requests that
//! started executing are saved: successes and card declines, not validation errors or
//! injected faults.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;

/// A saved response.
#[derive(Debug, Clone)]
pub struct Saved {
    pub status: StatusCode,
    pub body: Bytes,
    /// The `Request-Id` of the request that produced it.
    pub request_id: String,
}

#[derive(Debug)]
enum Entry {
    InFlight { fingerprint: String },
    Done { fingerprint: String, saved: Saved },
}

/// What to do with an incoming request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// First use of the key: execute it.
    Execute,
    /// Seen before with the same parameters: send this again.
    Replay(Saved),
    /// Seen before with other parameters.
    Mismatch,
    /// The first request with this key is still executing.
    InFlight,
}

#[derive(Debug, Default)]
pub struct Idempotency {
    entries: HashMap<(String, String), Entry>,
}

impl Idempotency {
    pub fn begin(&mut self, api_key: &str, key: &str, fingerprint: &str) -> Begin {
        let slot = (api_key.to_owned(), key.to_owned());
        match self.entries.get(&slot) {
            None => {
                self.entries.insert(
                    slot,
                    Entry::InFlight {
                        fingerprint: fingerprint.to_owned(),
                    },
                );
                Begin::Execute
            }
            Some(Entry::Done {
                fingerprint: seen,
                saved,
            }) if seen == fingerprint => Begin::Replay(saved.clone()),
            Some(Entry::InFlight { fingerprint: seen }) if seen == fingerprint => Begin::InFlight,
            Some(_) => Begin::Mismatch,
        }
    }

    /// Saves the response of an executed request, or forgets the key (`None`) so a retry
    /// executes afresh.
    pub fn finish(&mut self, api_key: &str, key: &str, saved: Option<Saved>) {
        let slot = (api_key.to_owned(), key.to_owned());
        match saved {
            Some(saved) => {
                if let Some(entry) = self.entries.get_mut(&slot) {
                    let fingerprint = match entry {
                        Entry::InFlight { fingerprint } | Entry::Done { fingerprint, .. } => {
                            std::mem::take(fingerprint)
                        }
                    };
                    *entry = Entry::Done { fingerprint, saved };
                }
            }
            None => {
                self.entries.remove(&slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Saved {
        Saved {
            status: StatusCode::OK,
            body: Bytes::from_static(b"{}"),
            request_id: "req_1".into(),
        }
    }

    #[test]
    fn replays_same_params_and_rejects_others() {
        let mut store = Idempotency::default();
        assert!(matches!(
            store.begin("sk_test_a", "k", "p1"),
            Begin::Execute
        ));
        assert!(matches!(
            store.begin("sk_test_a", "k", "p1"),
            Begin::InFlight
        ));
        store.finish("sk_test_a", "k", Some(saved()));
        assert!(matches!(
            store.begin("sk_test_a", "k", "p1"),
            Begin::Replay(_)
        ));
        assert!(matches!(
            store.begin("sk_test_a", "k", "p2"),
            Begin::Mismatch
        ));
        assert!(matches!(
            store.begin("sk_test_b", "k", "p2"),
            Begin::Execute
        ));
    }

    #[test]
    fn forgotten_keys_execute_again() {
        let mut store = Idempotency::default();
        assert!(matches!(store.begin("sk", "k", "p"), Begin::Execute));
        store.finish("sk", "k", None);
        assert!(matches!(store.begin("sk", "k", "p"), Begin::Execute));
    }
}
