//! The queue backbone every worker stands on: the broker topology, the message
//! envelope, the outbox relay that publishes what the database committed, the consumer
//! runtime that retries and dead-letters, and the dead-letter archive ops work from.
//! docs/architecture.md draws the topology and gives the reason for each argument.

pub mod broker;
pub mod consume;
pub mod dead_letters;
pub mod envelope;
pub mod handler;
pub mod inbox;
pub mod relay;
pub mod retry;
pub mod topology;
pub mod work_queues;
