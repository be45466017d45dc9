//! Shopping sessions: a cookie per store holding a random id, the basket kept here.

use std::collections::HashMap;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use uuid::Uuid;

use crate::address::Address;
use crate::catalog::Store;
use crate::scenario::Scenario;

/// One basket line. `scenario` is the one-off `?scenario=` the product page was opened
/// with, carried by the add-to-cart form so it follows the line through checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub sku: &'static str,
    pub option: Option<String>,
    pub quantity: u32,
    pub scenario: Option<Scenario>,
}

#[derive(Debug, Clone, Default)]
pub struct Session {
    pub lines: Vec<CartLine>,
    /// Rackhouse: the shopper passed the "continue as guest" step.
    pub guest: bool,
    /// Nordwind with `framed_address`: the address saved by the checkout's address frame.
    pub address: Option<Address>,
}

impl Session {
    /// Adds a line, or raises the quantity of an identical one.
    pub fn add(&mut self, line: CartLine) {
        let same = self
            .lines
            .iter_mut()
            .find(|l| l.sku == line.sku && l.option == line.option && l.scenario == line.scenario);
        match same {
            Some(existing) => existing.quantity = existing.quantity.saturating_add(line.quantity),
            None => self.lines.push(line),
        }
    }
}

#[derive(Debug, Default)]
pub struct Sessions(HashMap<Uuid, Session>);

impl Sessions {
    pub fn get(&self, id: Option<Uuid>) -> Session {
        id.and_then(|id| self.0.get(&id))
            .cloned()
            .unwrap_or_default()
    }

    pub fn entry(&mut self, id: Uuid) -> &mut Session {
        self.0.entry(id).or_default()
    }
}

fn cookie_name(store: Store) -> &'static str {
    match store {
        Store::Nordwind => "nw_cart",
        Store::Rackhouse => "rh_session",
    }
}

/// The session id the browser sent for this store, if any.
pub fn read_cookie(headers: &HeaderMap, store: Store) -> Option<Uuid> {
    let name = cookie_name(store);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| Uuid::parse_str(v).ok())
}

/// Whether the browser accepted Nordwind's consent banner (`nw_consent`, set by the
/// banner's script, so a second product page shows no banner).
pub fn has_consented(headers: &HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| pair.trim() == "nw_consent=yes")
}

/// The `Set-Cookie` value that keeps this session for the store's pages only.
pub fn cookie_header(store: Store, id: Uuid) -> String {
    format!(
        "{}={id}; Path=/{}; HttpOnly; SameSite=Lax",
        cookie_name(store),
        store.id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_store_cookie_among_others() {
        let id = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            format!("other=1; nw_cart={id}; rh_session=x")
                .parse()
                .unwrap(),
        );
        assert_eq!(read_cookie(&headers, Store::Nordwind), Some(id));
        assert_eq!(read_cookie(&headers, Store::Rackhouse), None);
        assert!(cookie_header(Store::Rackhouse, id).contains("Path=/rackhouse"));
    }

    #[test]
    fn identical_lines_merge() {
        let line = |option: &str| CartLine {
            sku: "NORD-1001",
            option: Some(option.to_owned()),
            quantity: 1,
            scenario: None,
        };
        let mut session = Session::default();
        session.add(line("42"));
        session.add(line("42"));
        session.add(line("43"));
        assert_eq!(session.lines.len(), 2);
        assert_eq!(session.lines[0].quantity, 2);
    }
}
