//! The one pricing path of a checkout and a quote: one read of the cart's SKUs as the
//! catalog has them (with their stores' shipping rules, the address's tax rate and the
//! units available), then the cart priced from that read, never from the client
//! (`cartwright_shared::pricing`). A quote and the checkout that follows it therefore
//! agree to the cent while the catalog stays the same.

use std::collections::{BTreeMap, HashMap};

use cartwright_shared::money::Minor;
use cartwright_shared::pricing::{self, PricedCheckout, PricedLine, StoreShipping};
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::request::Cart;
use crate::error::ApiError;

/// One SKU of the cart as the catalog has it, with its store's shipping rule.
#[derive(sqlx::FromRow)]
struct CatalogRow {
    sku: String,
    store_id: String,
    title: String,
    price: i64,
    currency: String,
    /// Stock not held by any checkout: what a checkout could reserve now.
    available: i64,
    shipping_fee: i64,
    free_shipping_threshold: Option<i64>,
    tax_rate: Option<Decimal>,
}

pub struct Catalog {
    skus: HashMap<String, CatalogRow>,
    /// The shipping address's region's rate wins over the country-wide one; no row
    /// means no tax.
    tax_rate: Decimal,
}

/// One statement, no transaction: nothing here is locked. A checkout's write checks it
/// all again; a quote is an answer about this moment. The query is `catalog_for_cart`
/// (migration 0024), which keeps one plan instead of being planned on every call.
pub async fn read(pool: &PgPool, cart: &Cart) -> Result<Catalog, ApiError> {
    let skus: Vec<&str> = cart.lines.iter().map(|l| l.sku.as_str()).collect();
    let address = &cart.shipping_address;
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "SELECT sku, store_id, title, price, currency, available, shipping_fee,
                free_shipping_threshold, tax_rate
         FROM catalog_for_cart($1, $2, $3)",
    )
    .bind(&skus)
    .bind(&address.country)
    .bind(address.state.as_deref().unwrap_or(""))
    .fetch_all(pool)
    .await?;
    let tax_rate = rows
        .first()
        .and_then(|r| r.tax_rate)
        .unwrap_or(Decimal::ZERO);
    Ok(Catalog {
        skus: rows.into_iter().map(|r| (r.sku.clone(), r)).collect(),
        tax_rate,
    })
}

impl Catalog {
    /// Prices every line from the catalog; an unknown SKU or one sold in another
    /// currency is a 422 naming its line.
    pub fn price(&self, cart: &Cart) -> Result<PricedCheckout, ApiError> {
        let mut lines = Vec::with_capacity(cart.lines.len());
        let mut shipping = BTreeMap::new();
        for (i, line) in cart.lines.iter().enumerate() {
            let field = format!("items[{i}].sku");
            let Some(row) = self.skus.get(&line.sku) else {
                return Err(ApiError::Invalid {
                    code: "unknown_sku",
                    message: format!("{field}: no SKU {:?} in the catalog", line.sku),
                    field,
                });
            };
            if row.currency != cart.currency.as_str() {
                return Err(ApiError::Invalid {
                    code: "currency_mismatch",
                    message: format!(
                        "{field}: {} is sold in {}, but the checkout is in {}; one checkout takes one currency",
                        line.sku, row.currency, cart.currency
                    ),
                    field,
                });
            }
            shipping.insert(
                row.store_id.clone(),
                StoreShipping {
                    fee: Minor(row.shipping_fee),
                    free_threshold: row.free_shipping_threshold.map(Minor),
                },
            );
            lines.push(PricedLine {
                sku: line.sku.clone(),
                title: row.title.clone(),
                store_id: row.store_id.clone(),
                quantity: line.quantity,
                unit_price: Minor(row.price),
            });
        }
        Ok(pricing::price(&lines, &shipping, self.tax_rate)?)
    }

    /// Units of a priced SKU that a checkout could hold now (0 for one not read).
    pub fn available(&self, sku: &str) -> i64 {
        self.skus.get(sku).map_or(0, |row| row.available)
    }
}
