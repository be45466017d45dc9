//! Checkouts: the request, the one pricing path, the submission written in batches, the
//! quote that writes nothing, the views read back, and a customer's orders.

pub mod catalog;
pub mod customer_orders;
pub mod idempotency;
pub mod quote;
pub mod request;
pub mod submit;
pub mod view;
pub mod writer;
