//! A basket priced as the retailer shows it right now: the scenarios in effect decide
//! each line's price and availability.

use serde::Serialize;

use crate::board::ScenarioBoard;
use crate::catalog::{self, Product, Store};
use crate::money;
use crate::scenario::{Scenario, Scenarios};
use crate::session::CartLine;

/// The unit price shown for a product under these scenarios.
pub fn unit_price(product: &Product, scenarios: &Scenarios) -> i64 {
    if scenarios.has(Scenario::PriceChange) {
        money::raised(product.price_cents)
    } else {
        product.price_cents
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PricedLine {
    pub sku: &'static str,
    pub product_id: &'static str,
    pub title: &'static str,
    pub option: Option<String>,
    pub quantity: u32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
    pub sold_out: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PricedCart {
    pub lines: Vec<PricedLine>,
    pub item_count: u32,
    pub subtotal_cents: i64,
    pub shipping_cents: i64,
    pub total_cents: i64,
    /// Every scenario in effect for any line or for the request.
    #[serde(skip)]
    pub scenarios: Scenarios,
}

impl PricedCart {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn sold_out(&self) -> impl Iterator<Item = &PricedLine> {
        self.lines.iter().filter(|l| l.sold_out)
    }
}

/// Prices the basket. `request` is the page's own `?scenario=`, if any.
pub fn price(
    store: Store,
    lines: &[CartLine],
    board: &ScenarioBoard,
    request: Option<Scenario>,
) -> PricedCart {
    let mut scenarios = Scenarios::default();
    scenarios.add(request);
    let priced: Vec<PricedLine> = lines
        .iter()
        .filter_map(|line| {
            let product = catalog::by_sku(store, line.sku)?;
            let mut in_effect = board.for_sku(store, line.sku);
            in_effect.add(line.scenario);
            in_effect.add(request);
            scenarios.merge(&in_effect);
            let unit = unit_price(product, &in_effect);
            Some(PricedLine {
                sku: product.sku,
                product_id: product.product_id,
                title: product.title,
                option: line.option.clone(),
                quantity: line.quantity,
                unit_price_cents: unit,
                line_total_cents: unit * i64::from(line.quantity),
                sold_out: in_effect.has(Scenario::OutOfStock),
            })
        })
        .collect();
    let subtotal_cents = priced.iter().map(|l| l.line_total_cents).sum();
    let shipping_cents = store.shipping_cents(subtotal_cents);
    PricedCart {
        item_count: priced.iter().map(|l| l.quantity).sum(),
        lines: priced,
        subtotal_cents,
        shipping_cents,
        total_cents: subtotal_cents + shipping_cents,
        scenarios,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Switch;

    fn line(sku: &'static str, quantity: u32, scenario: Option<Scenario>) -> CartLine {
        CartLine {
            sku,
            option: None,
            quantity,
            scenario,
        }
    }

    #[test]
    fn prices_lines_shipping_and_scenarios() {
        let mut board = ScenarioBoard::default();
        board.set(Switch {
            store: Store::Rackhouse,
            sku: Some("RACK-2004"),
            scenario: Scenario::OutOfStock,
        });
        let lines = [
            line("RACK-2001", 1, None),
            line("RACK-2004", 2, None),
            line("RACK-2003", 1, Some(Scenario::PriceChange)),
        ];
        let cart = price(Store::Rackhouse, &lines, &board, None);
        assert_eq!(cart.item_count, 4);
        assert_eq!(cart.lines[2].unit_price_cents, 4599);
        assert_eq!(cart.subtotal_cents, 18900 + 2 * 1299 + 4599);
        assert_eq!(cart.shipping_cents, 0);
        assert_eq!(
            cart.sold_out().map(|l| l.sku).collect::<Vec<_>>(),
            ["RACK-2004"]
        );
        assert_eq!(
            cart.scenarios.to_vec(),
            [Scenario::OutOfStock, Scenario::PriceChange]
        );
    }

    #[test]
    fn the_request_scenario_applies_to_every_line() {
        let lines = [line("NORD-1005", 1, None)];
        let cart = price(
            Store::Nordwind,
            &lines,
            &ScenarioBoard::default(),
            Some(Scenario::PriceChange),
        );
        assert_eq!(cart.total_cents, 2299 + 599);
    }
}
