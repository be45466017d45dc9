//! API keys checked in the last few seconds, so a request's key costs no database
//! look-up on the hot path (intake, reads). Unknown keys are remembered too, so a client
//! repeating a bad key costs nothing either. The price: a revoked key keeps working for
//! at most `TTL` in each API process, the same bound a revocation already has for
//! requests in flight.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cartwright_shared::api_keys::{self, Principal};
use sqlx::PgPool;

/// How long a look-up's answer is trusted; what a revocation may take to bite.
pub const TTL: Duration = Duration::from_secs(5);

/// Beyond this many remembered keys (a flood of random ones), the cache starts over
/// rather than grow: it is an optimisation, never a store.
const MAX_ENTRIES: usize = 10_000;

/// When a key was looked up, and what it was then (`None`: unknown or revoked).
type Seen = (Instant, Option<Principal>);

#[derive(Default)]
pub struct KeyCache {
    /// By the key's SHA-256.
    entries: Mutex<HashMap<Vec<u8>, Seen>>,
}

impl KeyCache {
    /// The principal of a presented key, as `api_keys::find` says, at most `TTL` old.
    pub async fn authenticate(
        &self,
        pool: &PgPool,
        presented: &str,
    ) -> sqlx::Result<Option<Principal>> {
        let hash = api_keys::hash_key(presented);
        if let Some(known) = self.recent(&hash) {
            return Ok(known);
        }
        let found = api_keys::find(pool, &hash).await?;
        self.remember(hash, found.clone());
        Ok(found)
    }

    fn recent(&self, hash: &[u8]) -> Option<Option<Principal>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, principal)| principal.clone())
    }

    fn remember(&self, hash: Vec<u8>, principal: Option<Principal>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, (Instant::now(), principal));
    }
}
