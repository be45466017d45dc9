//! Cartwright's background workers: one binary, one subcommand per worker, and `all`.

pub mod scheduler;
