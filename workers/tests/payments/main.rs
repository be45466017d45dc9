//! The payment worker and the Stripe webhook endpoint through the real async-stripe
//! client against the project's Stripe emulator, on real PostgreSQL and RabbitMQ.

mod authorize;
mod cancel;
mod common;
mod connections;
mod process_killed;
mod refunds;
mod settlement;
mod webhooks;
