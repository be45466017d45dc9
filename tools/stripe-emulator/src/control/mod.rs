//! The emulator-only control API under `/_emulator` (no authentication): faults, ledger,
//! reset, 3-D Secure outcomes, disputes and the webhook delivery log.

mod disputes;
mod faults;
mod ledger;
mod state;
mod three_ds;

use axum::Router;
use axum::routing::{get, post};

use crate::app::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/_emulator/health", get(state::health))
        .route("/_emulator/reset", post(state::reset))
        .route("/_emulator/ledger", get(ledger::ledger))
        .route("/_emulator/webhook_deliveries", get(state::deliveries))
        .route(
            "/_emulator/faults",
            get(faults::list).post(faults::add).delete(faults::clear),
        )
        .route("/_emulator/delays", post(faults::add_delay))
        .route(
            "/_emulator/payment_intents/{id}/3ds",
            post(three_ds::complete),
        )
        .route("/_emulator/3ds/{id}", get(three_ds::page))
        .route("/_emulator/charges/{id}/dispute", post(disputes::open))
}
