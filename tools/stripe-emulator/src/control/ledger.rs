//! `/_emulator/ledger`: every PaymentIntent with the money it moved, for "charged once" checks.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::model::{Metadata, PaymentIntent};
use crate::store::Store;

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Amounts {
    /// Authorized by a successful charge.
    authorized: i64,
    /// Captured (`amount_received`).
    captured: i64,
    /// Refunded through `/v1/refunds`.
    refunded: i64,
    /// Authorized but never captured: released by a partial capture or a cancel.
    released: i64,
}

impl Amounts {
    fn add(&mut self, other: Amounts) {
        self.authorized += other.authorized;
        self.captured += other.captured;
        self.refunded += other.refunded;
        self.released += other.released;
    }
}

#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    status: &'static str,
    amount: i64,
    currency: &'a str,
    capture_method: &'a str,
    idempotency_key: Option<&'a str>,
    metadata: &'a Metadata,
    created: i64,
    #[serde(flatten)]
    amounts: Amounts,
}

fn amounts(store: &Store, pi: &PaymentIntent) -> Amounts {
    let refunded: i64 = store
        .refunds
        .iter()
        .filter(|r| r.payment_intent == pi.id)
        .map(|r| r.amount)
        .sum();
    let (authorized, released_or_refunded) = pi
        .latest_charge
        .as_deref()
        .and_then(|id| store.charges.get(id))
        .filter(|c| c.succeeded())
        .map_or((0, 0), |c| (c.amount, c.amount_refunded));
    Amounts {
        authorized,
        captured: pi.amount_received,
        refunded,
        released: released_or_refunded - refunded,
    }
}

pub async fn ledger(State(app): State<App>) -> Json<Value> {
    app.with_store(|store| {
        let mut totals: BTreeMap<&str, Amounts> = BTreeMap::new();
        let rows: Vec<Row> = store
            .intents
            .iter()
            .map(|pi| {
                let amounts = amounts(store, pi);
                totals.entry(pi.currency.as_str()).or_default().add(amounts);
                Row {
                    id: &pi.id,
                    status: pi.status.as_str(),
                    amount: pi.amount,
                    currency: &pi.currency,
                    capture_method: &pi.capture_method,
                    idempotency_key: pi.idempotency_key.as_deref(),
                    metadata: &pi.metadata,
                    created: pi.created,
                    amounts,
                }
            })
            .collect();
        Json(json!({ "counters": store.counters, "totals": totals, "payment_intents": rows }))
    })
}
