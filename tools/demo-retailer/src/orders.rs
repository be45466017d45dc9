//! The order log: every order either store placed, for tests to check against.

use chrono::{DateTime, Datelike, Utc};
use rand::Rng;
use serde::Serialize;

use crate::address::Address;
use crate::cart::{PricedCart, PricedLine};
use crate::catalog::Store;
use crate::money;
use crate::scenario::Scenario;

/// How the order was paid: Nordwind takes a company card reference, Rackhouse a saved card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    CardReference(String),
    SavedCard(&'static str),
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderItem {
    pub sku: &'static str,
    pub product_id: &'static str,
    pub title: &'static str,
    pub option: Option<String>,
    pub quantity: u32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

impl From<PricedLine> for OrderItem {
    fn from(line: PricedLine) -> Self {
        OrderItem {
            sku: line.sku,
            product_id: line.product_id,
            title: line.title,
            option: line.option,
            quantity: line.quantity,
            unit_price_cents: line.unit_price_cents,
            line_total_cents: line.line_total_cents,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlacedOrder {
    pub store: Store,
    pub order_number: String,
    pub items: Vec<OrderItem>,
    pub shipping_address: Address,
    pub card_reference: Option<String>,
    pub saved_card: Option<&'static str>,
    pub subtotal_cents: i64,
    pub shipping_cents: i64,
    /// Charged on top of what the checkout showed (the `surcharge` scenario), else 0.
    pub surcharge_cents: i64,
    /// What was charged: subtotal, shipping and any surcharge.
    pub total_cents: i64,
    pub placed_at: DateTime<Utc>,
    /// The scenarios in effect when it was placed (`error_after_submit`, `price_change`…).
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug)]
pub struct OrderLog {
    orders: Vec<PlacedOrder>,
    /// Rackhouse numbers orders sequentially; the sequence survives a log reset.
    rackhouse_sequence: u64,
}

impl Default for OrderLog {
    fn default() -> Self {
        OrderLog {
            orders: Vec::new(),
            rackhouse_sequence: rand::rng().random_range(100..5_000),
        }
    }
}

impl OrderLog {
    pub fn record(
        &mut self,
        store: Store,
        cart: PricedCart,
        shipping_address: Address,
        payment: Payment,
    ) -> PlacedOrder {
        let placed_at = Utc::now();
        let (card_reference, saved_card) = match payment {
            Payment::CardReference(reference) => (Some(reference), None),
            Payment::SavedCard(card) => (None, Some(card)),
        };
        let surcharge_cents = if cart.scenarios.has(Scenario::Surcharge) {
            money::surcharge(cart.total_cents)
        } else {
            0
        };
        let order = PlacedOrder {
            store,
            order_number: self.next_number(store, placed_at),
            items: cart.lines.into_iter().map(OrderItem::from).collect(),
            shipping_address,
            card_reference,
            saved_card,
            subtotal_cents: cart.subtotal_cents,
            shipping_cents: cart.shipping_cents,
            surcharge_cents,
            total_cents: cart.total_cents + surcharge_cents,
            placed_at,
            scenarios: cart.scenarios.to_vec(),
        };
        self.orders.push(order.clone());
        order
    }

    /// `NW-482913` (random, unique in the log) or `RH-2026-000123` (sequential).
    fn next_number(&mut self, store: Store, now: DateTime<Utc>) -> String {
        match store {
            Store::Nordwind => loop {
                let number = format!("NW-{}", rand::rng().random_range(100_000..1_000_000));
                if self.find(store, &number).is_none() {
                    return number;
                }
            },
            Store::Rackhouse => {
                self.rackhouse_sequence += 1;
                format!("RH-{}-{:06}", now.year(), self.rackhouse_sequence)
            }
        }
    }

    pub fn find(&self, store: Store, order_number: &str) -> Option<&PlacedOrder> {
        self.orders
            .iter()
            .find(|o| o.store == store && o.order_number == order_number)
    }

    pub fn list(&self, store: Option<Store>) -> Vec<PlacedOrder> {
        self.orders
            .iter()
            .filter(|o| store.is_none_or(|s| o.store == s))
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) {
        self.orders.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressInput;
    use crate::board::ScenarioBoard;
    use crate::cart;
    use crate::session::CartLine;

    fn order(log: &mut OrderLog, store: Store, sku: &'static str) -> PlacedOrder {
        let lines = [CartLine {
            sku,
            option: None,
            quantity: 1,
            scenario: None,
        }];
        let cart = cart::price(store, &lines, &ScenarioBoard::default(), None);
        let address = AddressInput {
            name: "A".into(),
            line1: "B".into(),
            city: "C".into(),
            postal_code: "D".into(),
            country: "US".into(),
            ..Default::default()
        };
        log.record(
            store,
            cart,
            address.validate().unwrap(),
            Payment::SavedCard("card"),
        )
    }

    #[test]
    fn numbers_orders_per_store_and_filters() {
        let mut log = OrderLog::default();
        let nw = order(&mut log, Store::Nordwind, "NORD-1006");
        let rh1 = order(&mut log, Store::Rackhouse, "RACK-2001");
        let rh2 = order(&mut log, Store::Rackhouse, "RACK-2004");
        assert!(nw.order_number.starts_with("NW-") && nw.order_number.len() == 9);
        let year = Utc::now().year();
        assert!(
            rh1.order_number.starts_with(&format!("RH-{year}-")),
            "{}",
            rh1.order_number
        );
        assert_ne!(rh1.order_number, rh2.order_number);
        assert_eq!(log.list(Some(Store::Rackhouse)).len(), 2);
        assert_eq!(log.list(None).len(), 3);
        assert_eq!(
            log.find(Store::Nordwind, &nw.order_number)
                .unwrap()
                .total_cents,
            7900 + 599
        );
        log.clear();
        let rh3 = order(&mut log, Store::Rackhouse, "RACK-2004");
        assert!(rh3.order_number > rh2.order_number);
        assert!(log.list(Some(Store::Nordwind)).is_empty());
    }
}
