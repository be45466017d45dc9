//! Cartwright's HTTP API: intake for storefronts, the ops API, health. `main` only
//! parses the configuration and calls [`Application::build`].

pub mod address_limit;
pub mod broker_health;
pub mod checkout;
pub mod console;
pub mod error;
pub mod extract;
pub mod key_cache;
pub mod limits;
pub mod ops_change;
pub mod placement;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;
pub mod stripe_signature;
pub mod validate;

pub use startup::Application;
