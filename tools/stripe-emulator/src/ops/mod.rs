//! The emulated behaviour, as functions over the locked [`Store`](crate::store::Store).
//! Handlers parse the request, call one of these, and render the result.

pub mod confirm;
pub mod disputes;
pub mod intents;
pub mod refunds;
pub mod render;
