//! Pricing a cart: split it into one order per store, add each store's shipping, and
//! tax each order from the shipping address. Pure, so every rule is unit-tested here.
//!
//! Tax is computed per order on its item subtotal (shipping is not taxed), rounded half
//! away from zero to the cent; the checkout's amounts are the sums of its orders', so
//! the checkout total always equals the sum of the order totals to the cent. Every sum
//! and product is checked: a cart whose amounts do not fit in 64 bits is refused
//! ([`Overflow`]), never charged a wrapped amount.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::{Minor, Overflow};

/// One priced line, as read from the catalog (never from the client).
#[derive(Debug, Clone, PartialEq)]
pub struct PricedLine {
    pub sku: String,
    pub title: String,
    pub store_id: String,
    pub quantity: i32,
    pub unit_price: Minor,
}

impl PricedLine {
    pub fn line_total(&self) -> Result<Minor, Overflow> {
        self.unit_price.checked_times(self.quantity)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreShipping {
    pub fee: Minor,
    /// Orders whose subtotal reaches this ship free; `None` means never free.
    pub free_threshold: Option<Minor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PricedOrder {
    pub store_id: String,
    pub lines: Vec<PricedLine>,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PricedCheckout {
    pub orders: Vec<PricedOrder>,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
}

/// `tax_rate_percent` is e.g. 7.25 for 7.25 %. `shipping` must hold every store that
/// appears in `lines`. Orders come out sorted by store id, lines in request order.
pub fn price(
    lines: &[PricedLine],
    shipping: &BTreeMap<String, StoreShipping>,
    tax_rate_percent: Decimal,
) -> Result<PricedCheckout, Overflow> {
    let mut by_store: BTreeMap<&str, Vec<PricedLine>> = BTreeMap::new();
    for line in lines {
        by_store
            .entry(&line.store_id)
            .or_default()
            .push(line.clone());
    }

    let orders = by_store
        .into_iter()
        .map(|(store_id, lines)| {
            let subtotal = Minor::checked_sum(
                lines
                    .iter()
                    .map(PricedLine::line_total)
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
            let rule = &shipping[store_id];
            let ships_free = rule.free_threshold.is_some_and(|t| subtotal >= t);
            let shipping = if ships_free { Minor(0) } else { rule.fee };
            let tax = tax_on(subtotal, tax_rate_percent)?;
            Ok(PricedOrder {
                store_id: store_id.to_owned(),
                lines,
                subtotal,
                shipping,
                tax,
                total: Minor::checked_sum([subtotal, shipping, tax])?,
            })
        })
        .collect::<Result<Vec<PricedOrder>, Overflow>>()?;

    Ok(PricedCheckout {
        subtotal: Minor::checked_sum(orders.iter().map(|o| o.subtotal))?,
        shipping: Minor::checked_sum(orders.iter().map(|o| o.shipping))?,
        tax: Minor::checked_sum(orders.iter().map(|o| o.tax))?,
        total: Minor::checked_sum(orders.iter().map(|o| o.total))?,
        orders,
    })
}

fn tax_on(amount: Minor, rate_percent: Decimal) -> Result<Minor, Overflow> {
    let tax = Decimal::from(amount.0)
        .checked_mul(rate_percent)
        .ok_or(Overflow)?
        / Decimal::ONE_HUNDRED;
    let rounded = tax.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(rounded).map(Minor).map_err(|_| Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, store: &str, quantity: i32, unit: i64) -> PricedLine {
        PricedLine {
            sku: sku.into(),
            title: sku.into(),
            store_id: store.into(),
            quantity,
            unit_price: Minor(unit),
        }
    }

    fn rules() -> BTreeMap<String, StoreShipping> {
        BTreeMap::from([
            (
                "a".to_owned(),
                StoreShipping {
                    fee: Minor(599),
                    free_threshold: Some(Minor(10000)),
                },
            ),
            (
                "b".to_owned(),
                StoreShipping {
                    fee: Minor(995),
                    free_threshold: None,
                },
            ),
        ])
    }

    #[test]
    fn splits_by_store_and_adds_up() {
        let priced = price(
            &[
                line("A1", "a", 2, 4999),
                line("B1", "b", 1, 12900),
                line("A2", "a", 1, 1500),
            ],
            &rules(),
            Decimal::new(725, 2),
        )
        .unwrap();
        assert_eq!(priced.orders.len(), 2);
        let a = &priced.orders[0];
        assert_eq!(a.store_id, "a");
        assert_eq!(a.subtotal, Minor(11498));
        assert_eq!(a.shipping, Minor(0), "over the free-shipping threshold");
        assert_eq!(a.tax, Minor(834), "7.25 % of 114.98 = 8.33605 → 8.34");
        let b = &priced.orders[1];
        assert_eq!(b.shipping, Minor(995));
        assert_eq!(b.tax, Minor(935), "7.25 % of 129.00 = 9.3525 → 9.35");
        assert_eq!(priced.total.0, a.total.0 + b.total.0);
        assert_eq!(
            priced.total.0,
            priced.subtotal.0 + priced.shipping.0 + priced.tax.0
        );
    }

    #[test]
    fn threshold_is_inclusive() {
        let priced = price(&[line("A1", "a", 1, 10000)], &rules(), Decimal::ZERO).unwrap();
        assert_eq!(priced.orders[0].shipping, Minor(0));
        let priced = price(&[line("A1", "a", 1, 9999)], &rules(), Decimal::ZERO).unwrap();
        assert_eq!(priced.orders[0].shipping, Minor(599));
    }

    #[test]
    fn half_cents_round_away_from_zero() {
        // 8 % of 0.50 is exactly 0.04; 6.25 % of 0.40 is 0.025 → 0.03.
        assert_eq!(tax_on(Minor(50), Decimal::new(8, 0)), Ok(Minor(4)));
        assert_eq!(tax_on(Minor(40), Decimal::new(625, 2)), Ok(Minor(3)));
    }

    #[test]
    fn per_order_rounding_keeps_the_sum_exact() {
        // Each order's tax is rounded on its own; the checkout sums the rounded values,
        // so the checkout never disagrees with its orders by a cent.
        let priced = price(
            &[line("A1", "a", 1, 333), line("B1", "b", 1, 333)],
            &rules(),
            Decimal::new(725, 2),
        )
        .unwrap();
        let sum: i64 = priced.orders.iter().map(|o| o.tax.0).sum();
        assert_eq!(priced.tax.0, sum);
    }

    #[test]
    fn amounts_that_do_not_fit_are_refused() {
        let huge = i64::MAX / 50;
        let tax = Decimal::new(725, 2);
        assert_eq!(line("A1", "a", 99, huge).line_total(), Err(Overflow));
        assert_eq!(
            price(&[line("A1", "a", 99, huge)], &rules(), tax),
            Err(Overflow)
        );
        // Each line fits, their order's sum does not.
        let two = [line("A1", "a", 30, huge), line("A2", "a", 30, huge)];
        assert_eq!(price(&two, &rules(), Decimal::ZERO), Err(Overflow));
        // The subtotal fits, the subtotal plus shipping and tax does not.
        assert_eq!(
            price(&[line("A1", "a", 1, i64::MAX)], &rules(), tax),
            Err(Overflow)
        );
    }
}
