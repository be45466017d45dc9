//! Checkouts: the request, the one-transaction submission, and the views read back.

pub mod idempotency;
pub mod request;
pub mod submit;
pub mod view;
