//! End-to-end tests: the real async-stripe 1.0 client (and raw HTTP where the client has no
//! API) against an in-process emulator.

mod common;
mod idempotency;
mod payment_intents;
mod refunds;
mod three_d_secure;
mod webhooks;
