//! Creating a SKU, or changing its title, price, stock, low-stock threshold or options
//! (`{"size": "M"}`: a variant is its own SKU; `validate::sku_options`). Fields
//! left out keep their value; the store and currency of an existing SKU never change
//! (orders refer to them). A change that leaves the SKU at or under its threshold raises
//! a low-stock alert; a restock above it resolves its alerts.

use std::collections::BTreeMap;

use cartwright_shared::money::{Currency, Minor};
use cartwright_shared::ops_audit::{self, Target};
use cartwright_shared::stock_levels;
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use crate::error::ApiError;
use crate::routes::catalog::{SkuView, sku_view};

pub const MAX_COUNT: i64 = 1_000_000;

/// What ops asked for; `None` keeps the current value.
#[derive(Default)]
pub struct SkuChange {
    pub store: Option<String>,
    pub title: Option<String>,
    pub price: Option<Minor>,
    pub currency: Option<Currency>,
    pub stock: Option<i64>,
    pub low_stock_threshold: Option<i64>,
    /// Checked (`validate::sku_options`); replaces the SKU's options whole, `{}` clears them.
    pub options: Option<BTreeMap<String, String>>,
}

impl SkuChange {
    /// The audit row's detail: the fields ops set, nothing else.
    fn detail(&self) -> Value {
        let mut detail = Map::new();
        let mut set = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                detail.insert(name.to_owned(), value);
            }
        };
        set("store", self.store.as_ref().map(|s| json!(s)));
        set("title", self.title.as_ref().map(|t| json!(t)));
        set("price", self.price.map(|p| json!(p)));
        set(
            "currency",
            self.currency.as_ref().map(|c| json!(c.as_str())),
        );
        set("stock", self.stock.map(|n| json!(n)));
        set(
            "low_stock_threshold",
            self.low_stock_threshold.map(|n| json!(n)),
        );
        set("options", self.options.as_ref().map(|o| json!(o)));
        Value::Object(detail)
    }
}

fn count(field: &str, value: Option<i64>) -> Result<Option<i32>, ApiError> {
    match value {
        Some(n) if !(0..=MAX_COUNT).contains(&n) => Err(ApiError::invalid(
            field,
            format!("{field} must be between 0 and {MAX_COUNT}"),
        )),
        other => Ok(other.map(|n| n as i32)),
    }
}

fn sku_code(sku: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&sku.len())
        && sku.starts_with(|c: char| c.is_ascii_alphanumeric())
        && sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "sku",
            "sku must be 1-64 letters, digits, dots, dashes or underscores",
        ))
    }
}

/// Creates or changes `sku` as `actor`; `true` when it was created.
pub async fn put(
    pool: &PgPool,
    actor: &str,
    sku: &str,
    change: SkuChange,
) -> Result<(bool, SkuView), ApiError> {
    let mut tx = pool.begin().await?;
    let done = put_in(&mut tx, actor, sku, change).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`put`] inside the caller's transaction: a refund that restocks returns its units
/// with the same checks, audit row and low-stock resolution as an ops restock.
pub async fn put_in(
    tx: &mut PgConnection,
    actor: &str,
    sku: &str,
    change: SkuChange,
) -> Result<(bool, SkuView), ApiError> {
    sku_code(sku)?;
    if change.price.is_some_and(|p| p.0 == 0) {
        return Err(ApiError::invalid("price", "price must be above zero"));
    }
    let stock = count("stock", change.stock)?;
    let threshold = count("low_stock_threshold", change.low_stock_threshold)?;
    let existing: Option<(String, String, i32)> =
        sqlx::query_as("SELECT store_id, currency, reserved FROM skus WHERE sku = $1 FOR UPDATE")
            .bind(sku)
            .fetch_optional(&mut *tx)
            .await?;
    let created = match existing {
        Some((store_id, sku_currency, reserved)) => {
            if change.store.as_ref().is_some_and(|s| *s != store_id) {
                return Err(ApiError::invalid(
                    "store",
                    "the store of an existing SKU cannot change",
                ));
            }
            if change
                .currency
                .as_ref()
                .is_some_and(|c| c.as_str() != sku_currency)
            {
                return Err(ApiError::invalid(
                    "currency",
                    "the currency of an existing SKU cannot change",
                ));
            }
            if let Some(stock) = stock
                && stock < reserved
            {
                return Err(ApiError::Conflict {
                    code: "stock_below_reserved",
                    message: format!(
                        "{reserved} units of {sku} are held by open checkouts; stock cannot go below that"
                    ),
                });
            }
            sqlx::query(
                "UPDATE skus SET title = COALESCE($2, title), price = COALESCE($3, price),
                        stock = COALESCE($4, stock), low_stock_threshold = COALESCE($5, low_stock_threshold),
                        options = COALESCE($6, options), updated_at = now()
                 WHERE sku = $1",
            )
            .bind(sku)
            .bind(&change.title)
            .bind(change.price.map(|p| p.0))
            .bind(stock)
            .bind(threshold)
            .bind(change.options.as_ref().map(|o| json!(o)))
            .execute(&mut *tx)
            .await?;
            false
        }
        None => {
            let store = change
                .store
                .as_deref()
                .ok_or_else(|| ApiError::missing("store"))?;
            let store_currency: String =
                sqlx::query_scalar("SELECT currency FROM stores WHERE id = $1")
                    .bind(store)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| ApiError::Invalid {
                        code: "unknown_store",
                        field: "store".into(),
                        message: format!("no store {store:?}"),
                    })?;
            if change
                .currency
                .as_ref()
                .is_some_and(|c| c.as_str() != store_currency)
            {
                return Err(ApiError::invalid(
                    "currency",
                    format!("store {store} sells in {store_currency}"),
                ));
            }
            let title = change
                .title
                .as_deref()
                .ok_or_else(|| ApiError::missing("title"))?;
            let price = change.price.ok_or_else(|| ApiError::missing("price"))?;
            let stock = stock.ok_or_else(|| ApiError::missing("stock"))?;
            let inserted = sqlx::query(
                "INSERT INTO skus (sku, store_id, title, price, currency, stock, low_stock_threshold, options)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8::JSONB, '{}')) ON CONFLICT (sku) DO NOTHING",
            )
            .bind(sku)
            .bind(store)
            .bind(title)
            .bind(price.0)
            .bind(&store_currency)
            .bind(stock)
            .bind(threshold.unwrap_or(0))
            .bind(change.options.as_ref().map(|o| json!(o)))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(ApiError::Conflict {
                    code: "concurrent_update",
                    message: format!("{sku} was created by another request just now; retry"),
                });
            }
            true
        }
    };
    let action = if created { "sku.create" } else { "sku.update" };
    ops_audit::record(&mut *tx, actor, action, Target::Sku(sku), change.detail()).await?;
    // Alert when the change leaves the SKU low; resolve its alerts when it is restocked
    // above its threshold. Same transaction: both happen if and only if the change does.
    stock_levels::check(&mut *tx, &[sku.to_owned()]).await?;
    let view = sku_view(&mut *tx, sku).await?;
    Ok((created, view))
}
