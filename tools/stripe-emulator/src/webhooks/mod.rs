//! Webhook signing and delivery.

pub mod delivery;
pub mod signing;
