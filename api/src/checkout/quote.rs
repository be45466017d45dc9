//! `POST /v1/quotes`: what the checkout of this cart would cost now, priced by the same
//! path as a checkout (`super::catalog`), and which lines it could not hold stock for.
//! One read, no transaction: it writes nothing and holds nothing, so stock it reports
//! available may be gone by the time the checkout comes.

use cartwright_shared::money::Minor;
use serde::Serialize;
use sqlx::PgPool;

use super::catalog;
use super::request::Cart;
use super::view::ItemView;
use crate::error::ApiError;

/// The amounts a checkout of the cart would show, field for field, without ids,
/// statuses or times: nothing exists yet.
#[derive(Debug, Serialize)]
pub struct QuoteView {
    pub currency: String,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
    /// False when any line is `short`: the checkout would now be refused with 409
    /// `insufficient_stock`.
    pub in_stock: bool,
    /// One per store, ordered by store id, as the checkout's orders are.
    pub orders: Vec<QuoteOrder>,
}

#[derive(Debug, Serialize)]
pub struct QuoteOrder {
    pub store: String,
    pub subtotal: Minor,
    pub shipping: Minor,
    pub tax: Minor,
    pub total: Minor,
    pub items: Vec<QuoteItem>,
}

#[derive(Debug, Serialize)]
pub struct QuoteItem {
    #[serde(flatten)]
    pub item: ItemView,
    /// Units no checkout holds now.
    pub available: i64,
    /// More units asked for than are `available`.
    pub short: bool,
}

pub async fn quote(pool: &PgPool, cart: &Cart) -> Result<QuoteView, ApiError> {
    let catalog = catalog::read(pool, cart).await?;
    let priced = catalog.price(cart)?;
    let orders = priced
        .orders
        .into_iter()
        .map(|order| {
            let items = order
                .lines
                .iter()
                .map(|line| {
                    let available = catalog.available(&line.sku);
                    Ok(QuoteItem {
                        item: ItemView::priced(line)?,
                        available,
                        short: i64::from(line.quantity) > available,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(QuoteOrder {
                store: order.store_id,
                subtotal: order.subtotal,
                shipping: order.shipping,
                tax: order.tax,
                total: order.total,
                items,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(QuoteView {
        currency: cart.currency.as_str().to_owned(),
        subtotal: priced.subtotal,
        shipping: priced.shipping,
        tax: priced.tax,
        total: priced.total,
        in_stock: orders.iter().flat_map(|o| &o.items).all(|i| !i.short),
        orders,
    })
}
