//! Cartwright's background workers: one binary, one subcommand per worker, and `all`.
//! Each worker module exposes `run(WorkerContext)`.

pub mod context;
pub mod notify;
pub mod payments;
pub mod placement_browser;
pub mod placement_manual;
pub mod placement_router;
pub mod scheduler;
pub mod stripe_events;
