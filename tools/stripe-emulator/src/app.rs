//! Shared state handed to every handler: the store, the fault knobs, the configuration.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::Config;
use crate::faults::Faults;
use crate::store::Store;
use crate::webhooks::delivery::Deliverer;

#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    public_url: String,
    store: Arc<Mutex<Store>>,
    faults: Mutex<Faults>,
    deliverer: Deliverer,
}

impl App {
    pub fn new(config: Config, public_url: String) -> Self {
        let store = Arc::new(Mutex::new(Store::new(&config)));
        let deliverer = Deliverer::new(config.delivery.clone(), store.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                public_url,
                store,
                faults: Mutex::new(Faults::default()),
                deliverer,
            }),
        }
    }

    /// Runs `f` with the store locked, then starts the webhook deliveries it queued.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let result = f(&mut store);
        let outgoing = store.take_outbox();
        drop(store);
        for job in outgoing {
            self.inner.deliverer.start(job);
        }
        result
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn api_version(&self) -> &str {
        &self.inner.config.api_version
    }

    /// The emulator's own base URL (for `next_action` links), without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Forgets every object, event, idempotency key and fault.
    pub fn reset(&self) {
        *self.faults() = Faults::default();
        self.with_store(|store| *store = Store::new(&self.inner.config));
    }
}
