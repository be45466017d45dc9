//! The server's shared state: scenario switches, baskets, the order log, templates.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

use crate::address::Address;
use crate::board::ScenarioBoard;
use crate::cart::{self, PricedCart};
use crate::catalog::Store;
use crate::config::Config;
use crate::orders::{OrderLog, Payment, PlacedOrder};
use crate::render::Templates;
use crate::scenario::{Scenario, Scenarios};
use crate::session::{Session, Sessions};

/// What came of a place-order submit.
pub enum Placement {
    EmptyCart,
    /// Nothing was placed: these lines are sold out now.
    SoldOut(PricedCart),
    Placed(Box<PlacedOrder>),
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub templates: Templates,
    board: Mutex<ScenarioBoard>,
    orders: Mutex<OrderLog>,
    sessions: Mutex<Sessions>,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A poisoned lock only means another request panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        Ok(AppState(Arc::new(Inner {
            config,
            templates: Templates::load()?,
            board: Mutex::default(),
            orders: Mutex::default(),
            sessions: Mutex::default(),
        })))
    }

    pub fn board(&self) -> MutexGuard<'_, ScenarioBoard> {
        lock(&self.board)
    }

    pub fn orders(&self) -> MutexGuard<'_, OrderLog> {
        lock(&self.orders)
    }

    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.sessions)
    }

    /// The scenarios in effect for one product page.
    pub fn product_scenarios(
        &self,
        store: Store,
        sku: &str,
        request: Option<Scenario>,
    ) -> Scenarios {
        let mut scenarios = self.board().for_sku(store, sku);
        scenarios.add(request);
        scenarios
    }

    pub fn session(&self, id: Option<Uuid>) -> Session {
        self.sessions().get(id)
    }

    /// The session's basket priced as it stands.
    pub fn cart(&self, store: Store, id: Option<Uuid>, request: Option<Scenario>) -> PricedCart {
        let lines = self.session(id).lines;
        cart::price(store, &lines, &self.board(), request)
    }

    /// Places the basket as an order: prices it, records it and empties the basket in
    /// one step, so two submits of the same basket cannot both buy it.
    pub fn place_order(
        &self,
        store: Store,
        id: Option<Uuid>,
        request: Option<Scenario>,
        address: Address,
        payment: Payment,
    ) -> Placement {
        let Some(id) = id else {
            return Placement::EmptyCart;
        };
        let mut sessions = self.sessions();
        let session = sessions.entry(id);
        let priced = cart::price(store, &session.lines, &self.board(), request);
        if priced.is_empty() {
            return Placement::EmptyCart;
        }
        if priced.sold_out().next().is_some() {
            return Placement::SoldOut(priced);
        }
        *session = Session::default();
        let order = self.orders().record(store, priced, address, payment);
        tracing::info!(
            store = store.id(),
            order_number = %order.order_number,
            total_cents = order.total_cents,
            "order placed"
        );
        Placement::Placed(Box::new(order))
    }

    /// Holds the response back when the `slow` scenario is in effect.
    pub async fn pause_if_slow(&self, scenarios: &Scenarios) {
        if scenarios.has(Scenario::Slow) {
            tokio::time::sleep(self.config.slow_delay).await;
        }
    }
}
