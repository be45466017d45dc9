//! Checkouts: the request, the one pricing path, the one-transaction submission, the
//! quote that writes nothing, and the views read back.

pub mod catalog;
pub mod idempotency;
pub mod quote;
pub mod request;
pub mod submit;
pub mod view;
