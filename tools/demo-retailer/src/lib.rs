//! Cartwright's demo retailer: two fake stores, Nordwind Outfitters (`/nordwind`) and
//! Rackhouse Cycling (`/rackhouse`), built differently on purpose, for the browser
//! worker's recipes, its tests and the demo. Plain HTML forms and a session cookie per
//! store; JavaScript only where a switch stands for a script-driven shop. Failure
//! scenarios (CAPTCHA, sold out, price change, slow pages, changed layout, error after
//! submit, sign-in wall) and shop habits (text prices with two amounts, a consent
//! overlay, a late buy box, a framed address form) are switched per SKU via
//! `/_admin/scenarios` or per request via `?scenario=`; every placed order lands in the
//! log at `/_admin/orders`. See README.md for pages, selectors and scenarios.

mod address;
mod admin;
mod app;
mod board;
mod cart;
mod catalog;
mod config;
mod money;
mod nordwind;
mod orders;
mod rackhouse;
mod render;
mod scenario;
mod server;
mod session;
mod shopping;
mod state;

pub use app::router;
pub use config::Config;
pub use server::{RetailerHandle, serve, spawn};
