//! The two stores and their products: the same SKUs, titles and prices as the demo
//! catalog Cartwright seeds (shared/src/demo.rs), plus what only a retailer knows: its
//! own product ids and the options (size, color) a shopper picks.

use serde::Serialize;

/// One of the two automated demo stores. Serialized as its id (`"nordwind"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Nordwind,
    Rackhouse,
}

impl Store {
    pub const ALL: [Store; 2] = [Store::Nordwind, Store::Rackhouse];

    pub fn id(self) -> &'static str {
        match self {
            Store::Nordwind => "nordwind",
            Store::Rackhouse => "rackhouse",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Store::Nordwind => "Nordwind Outfitters",
            Store::Rackhouse => "Rackhouse Cycling",
        }
    }

    pub fn parse(id: &str) -> Option<Store> {
        Store::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The retailer's shipping charge for a basket: a flat fee, free from a threshold
    /// (the same rules Cartwright's demo catalog uses for these stores).
    pub fn shipping_cents(self, subtotal_cents: i64) -> i64 {
        let (fee, free_from) = match self {
            Store::Nordwind => (599, 10_000),
            Store::Rackhouse => (995, 25_000),
        };
        if subtotal_cents == 0 || subtotal_cents >= free_from {
            0
        } else {
            fee
        }
    }
}

/// The one option a product may have; the first value is preselected.
#[derive(Debug, Serialize)]
pub struct ProductOption {
    pub label: &'static str,
    pub values: &'static [&'static str],
}

#[derive(Debug, Serialize)]
pub struct Product {
    #[serde(skip)]
    pub store: Store,
    pub sku: &'static str,
    /// The id in the retailer's own URLs: the SKU at Nordwind, `rh-…` at Rackhouse.
    pub product_id: &'static str,
    pub title: &'static str,
    pub price_cents: i64,
    pub option: Option<ProductOption>,
}

/// The `variant_ids` scenario's `<option value>` of the option value at `index`: an id of
/// the shop's own, as most shops use, so only the visible text says which size it is.
pub fn variant_id(index: usize) -> String {
    format!("v{}", 7301 + index)
}

impl Product {
    /// The option value a `variant_ids` `<option value>` stands for.
    pub fn option_for_variant_id(&self, id: &str) -> Option<&'static str> {
        let values = self.option.as_ref()?.values;
        values
            .iter()
            .enumerate()
            .find(|(i, _)| variant_id(*i) == id)
            .map(|(_, value)| *value)
    }

    pub fn accepts_option(&self, value: Option<&str>) -> bool {
        match (&self.option, value) {
            (None, None) => true,
            (Some(option), Some(value)) => option.values.contains(&value),
            _ => false,
        }
    }
}

const SIZES: &[&str] = &["S", "M", "L", "XL"];

const fn size(values: &'static [&'static str]) -> Option<ProductOption> {
    Some(ProductOption {
        label: "Size",
        values,
    })
}

const fn color(values: &'static [&'static str]) -> Option<ProductOption> {
    Some(ProductOption {
        label: "Color",
        values,
    })
}

const fn product(
    store: Store,
    sku: &'static str,
    product_id: &'static str,
    title: &'static str,
    price_cents: i64,
    option: Option<ProductOption>,
) -> Product {
    Product {
        store,
        sku,
        product_id,
        title,
        price_cents,
        option,
    }
}

use Store::{Nordwind as N, Rackhouse as R};

#[rustfmt::skip]
pub static PRODUCTS: &[Product] = &[
    product(N, "NORD-1001", "NORD-1001", "Trail Runner Shoe", 8999, size(&["40", "41", "42", "43", "44", "45"])),
    product(N, "NORD-1002", "NORD-1002", "Merino Base Layer", 6450, size(SIZES)),
    product(N, "NORD-1003", "NORD-1003", "Down Jacket", 21900, size(SIZES)),
    product(N, "NORD-1004", "NORD-1004", "Rain Shell", 14900, color(&["Black", "Forest", "Signal Red"])),
    product(N, "NORD-1005", "NORD-1005", "Hiking Socks (3 pack)", 1999, size(&["S/M", "L/XL"])),
    product(N, "NORD-1006", "NORD-1006", "Trekking Poles", 7900, None),
    product(N, "NORD-1007", "NORD-1007", "Daypack 22L", 9500, color(&["Black", "Slate", "Ochre"])),
    product(R, "RACK-2001", "rh-88213", "Roof Bike Rack", 18900, None),
    product(R, "RACK-2002", "rh-88227", "Bike Helmet", 7450, size(&["S", "M", "L"])),
    product(R, "RACK-2003", "rh-88310", "LED Light Set", 3999, None),
    product(R, "RACK-2004", "rh-88452", "Chain Lube", 1299, None),
    product(R, "RACK-2005", "rh-88519", "Tubeless Repair Kit", 2499, None),
    product(R, "RACK-2006", "rh-88604", "Cycling Gloves", 2999, size(SIZES)),
    product(R, "RACK-2007", "rh-88771", "Frame Bag", 5499, None),
];

pub fn for_store(store: Store) -> impl Iterator<Item = &'static Product> {
    PRODUCTS.iter().filter(move |p| p.store == store)
}

pub fn by_sku(store: Store, sku: &str) -> Option<&'static Product> {
    for_store(store).find(|p| p.sku == sku)
}

pub fn by_product_id(store: Store, product_id: &str) -> Option<&'static Product> {
    for_store(store).find(|p| p.product_id == product_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_has_seven_products_with_unique_ids() {
        for store in Store::ALL {
            let products: Vec<_> = for_store(store).collect();
            assert_eq!(products.len(), 7);
            for p in &products {
                assert_eq!(
                    by_product_id(store, p.product_id).map(|q| q.sku),
                    Some(p.sku)
                );
                assert_eq!(
                    by_sku(store, p.sku).map(|q| q.product_id),
                    Some(p.product_id)
                );
            }
        }
        assert!(by_sku(Store::Nordwind, "RACK-2001").is_none());
    }

    #[test]
    fn shipping_is_free_from_the_threshold() {
        assert_eq!(Store::Nordwind.shipping_cents(9999), 599);
        assert_eq!(Store::Nordwind.shipping_cents(10_000), 0);
        assert_eq!(Store::Rackhouse.shipping_cents(18_900), 995);
        assert_eq!(Store::Rackhouse.shipping_cents(0), 0);
    }
}
