//! What the API, the workers and the operator CLI share: the domain's value types,
//! money, configuration, database access and the messages they exchange.

pub mod api_keys;
pub mod batch;
pub mod capture_deadline;
pub mod config;
pub mod country;
pub mod db;
pub mod demo;
pub mod ids;
pub mod money;
pub mod ops_alert;
pub mod ops_audit;
pub mod outbox;
pub mod placement;
pub mod pricing;
pub mod procs;
pub mod prometheus;
pub mod queue;
pub mod reservations;
pub mod retention;
pub mod shutdown;
pub mod status;
pub mod stock_levels;
pub mod stripe_event_types;
pub mod telemetry;
pub mod text;
