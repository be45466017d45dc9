//! Cartwright's background workers: one binary, one subcommand per worker, and `all`.
//! Each worker module exposes `run(WorkerContext)`.

pub mod context;
pub mod placement_browser;
pub mod scheduler;
