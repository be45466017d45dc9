//! The demo retailer over real HTTP: each store's whole flow, every scenario switch,
//! and the control API. One test binary (modules below) to keep linking cheap.

mod admin;
mod common;
mod flows;
mod scenarios;
