//! A stateful, in-memory emulator of the subset of Stripe's REST API that Cartwright uses.
//!
//! It is a development and test tool: it never runs on the production path. State lives in
//! memory behind one mutex and is lost when the process exits. See the crate README for what
//! is emulated, what is not, and the `/_emulator/...` control API.
//!
//! Tests start one in-process with [`spawn`]:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emulator = stripe_emulator::spawn(stripe_emulator::Config::for_tests()).await?;
//! // point async-stripe at it: ClientBuilder::new("sk_test_x").url(&emulator.base_url)
//! # Ok(()) }
//! ```

mod api;
mod app;
mod auth;
mod cards;
mod config;
mod control;
mod error;
mod faults;
mod form;
mod idempotency;
mod ids;
mod model;
mod ops;
mod pipeline;
mod server;
mod store;
mod webhooks;

pub use config::{Config, DEFAULT_API_VERSION, DeliveryPolicy, WebhookTarget};
pub use server::{Handle, spawn};
pub use webhooks::signing::signature_header;
