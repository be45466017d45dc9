//! API keys checked in the last few seconds, so a request's key costs no database
//! look-up on the hot path (intake, reads). Unknown keys are remembered too, so a client
//! repeating a bad key costs nothing either. The price: a revoked key keeps working for
//! at most `TTL` in each API process, the same bound a revocation already has for
//! requests in flight. A flood of new bad keys neither reaches the database past its
//! address's allowance nor pushes valid keys out. Concurrent requests with one key
//! share one look-up: a storefront opening 200 connections with a new key, or every
//! request arriving as its entry expires, costs one query (and one spend), not 200.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cartwright_shared::api_keys::{self, Principal};
use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// How long a look-up's answer is trusted; what a revocation may take to bite.
pub const TTL: Duration = Duration::from_secs(5);

/// Beyond this many remembered keys (a flood of random ones), the cache starts over
/// rather than grow: it is an optimisation, never a store.
const MAX_ENTRIES: usize = 10_000;

/// When a key was looked up, and what it was then (`None`: unknown or revoked).
type Seen = (Instant, Option<Principal>);

/// A look-up under way, which requests with the same key wait for.
type Pending = Arc<OnceCell<Option<Principal>>>;

#[derive(Default)]
pub struct KeyCache {
    /// By the key's SHA-256.
    entries: Mutex<HashMap<Vec<u8>, Seen>>,
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl KeyCache {
    /// The principal of a presented key, as `api_keys::find` says, at most `TTL` old.
    /// A key not known to be valid must first pass `admit` (its address's allowance of
    /// requests without a valid key) before it costs a look-up. A key that was valid
    /// when last looked up is re-checked without it: a refresh is not a request without
    /// a key, and a flood from a client's address must not lock its valid key out.
    /// Requests with a key being looked up wait for that look-up.
    pub async fn authenticate(
        &self,
        pool: &PgPool,
        presented: &str,
        admit: impl FnOnce() -> Result<(), ApiError>,
    ) -> Result<Option<Principal>, ApiError> {
        let hash = api_keys::hash_key(presented);
        let needs_allowance = match self.last_seen(&hash) {
            Some((true, principal @ Some(_))) => return Ok(principal),
            Some((true, None)) => {
                admit()?;
                return Ok(None);
            }
            Some((false, Some(_))) => false,
            Some((false, None)) | None => true,
        };
        let pending = Arc::clone(locked(&self.pending).entry(hash.clone()).or_default());
        let found = pending
            .get_or_try_init(|| async {
                if needs_allowance {
                    admit()?;
                }
                let found = api_keys::find(pool, &hash).await?;
                self.remember(hash.clone(), found.clone());
                Ok::<_, ApiError>(found)
            })
            .await
            .cloned();
        let mut under_way = locked(&self.pending);
        if under_way
            .get(&hash)
            .is_some_and(|p| Arc::ptr_eq(p, &pending))
        {
            under_way.remove(&hash);
        }
        found
    }

    /// Whether the last look-up is still fresh (under `TTL`), and what it found.
    fn last_seen(&self, hash: &[u8]) -> Option<(bool, Option<Principal>)> {
        let entries = locked(&self.entries);
        entries
            .get(hash)
            .map(|(at, principal)| (at.elapsed() < TTL, principal.clone()))
    }

    fn remember(&self, hash: Vec<u8>, principal: Option<Principal>) {
        let mut entries = locked(&self.entries);
        // Bad keys go first: they only save a repeat its look-up. Valid keys, even
        // stale, say whose refresh needs no allowance.
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, principal)| principal.is_some() || at.elapsed() < TTL);
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, principal)| principal.is_some());
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (Instant::now(), principal));
    }
}
