//! `PUT /v1/ops/catalog/{sku}`: create a SKU, or change its title, price, stock or
//! low-stock threshold. Fields left out keep their value; the store and currency of an
//! existing SKU never change (orders refer to them). A change that leaves the SKU at or
//! under its threshold raises a low-stock alert; a restock above it resolves its alerts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::money::Currency;
use cartwright_shared::stock_levels;
use serde::Deserialize;

use super::catalog::{SkuView, sku_view};
use super::ops_stores::amount;
use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::state::AppState;
use crate::validate::optional_text;

const MAX_COUNT: i64 = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuBody {
    store: Option<String>,
    title: Option<String>,
    price: Option<String>,
    currency: Option<String>,
    stock: Option<i64>,
    low_stock_threshold: Option<i64>,
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

pub async fn upsert(
    State(state): State<AppState>,
    Ops(_): Ops,
    Path(sku): Path<String>,
    JsonBody { value: body, .. }: JsonBody<SkuBody>,
) -> Result<(StatusCode, Json<SkuView>), ApiError> {
    sku_code(&sku)?;
    let store = optional_text("store", body.store)?;
    let title = optional_text("title", body.title)?;
    let price = amount("price", optional_text("price", body.price)?)?;
    if price.is_some_and(|p| p.0 == 0) {
        return Err(ApiError::invalid("price", "price must be above zero"));
    }
    let currency = optional_text("currency", body.currency)?
        .map(|c| Currency::parse(&c).map_err(|m| ApiError::invalid("currency", m)))
        .transpose()?;
    let stock = count("stock", body.stock)?;
    let threshold = count("low_stock_threshold", body.low_stock_threshold)?;

    let mut tx = state.pool.begin().await?;
    let existing: Option<(String, String, i32)> =
        sqlx::query_as("SELECT store_id, currency, reserved FROM skus WHERE sku = $1 FOR UPDATE")
            .bind(&sku)
            .fetch_optional(&mut *tx)
            .await?;
    let status = match existing {
        Some((store_id, sku_currency, reserved)) => {
            if store.as_ref().is_some_and(|s| *s != store_id) {
                return Err(ApiError::invalid(
                    "store",
                    "the store of an existing SKU cannot change",
                ));
            }
            if currency
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
                        "{reserved} units are held by open checkouts; stock cannot go below that"
                    ),
                });
            }
            sqlx::query(
                "UPDATE skus SET title = COALESCE($2, title), price = COALESCE($3, price),
                        stock = COALESCE($4, stock), low_stock_threshold = COALESCE($5, low_stock_threshold),
                        updated_at = now()
                 WHERE sku = $1",
            )
            .bind(&sku)
            .bind(&title)
            .bind(price.map(|p| p.0))
            .bind(stock)
            .bind(threshold)
            .execute(&mut *tx)
            .await?;
            StatusCode::OK
        }
        None => {
            let store = store.ok_or_else(|| ApiError::missing("store"))?;
            let store_currency: String =
                sqlx::query_scalar("SELECT currency FROM stores WHERE id = $1")
                    .bind(&store)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| ApiError::Invalid {
                        code: "unknown_store",
                        field: "store".into(),
                        message: format!("no store {store:?}"),
                    })?;
            if currency
                .as_ref()
                .is_some_and(|c| c.as_str() != store_currency)
            {
                return Err(ApiError::invalid(
                    "currency",
                    format!("store {store} sells in {store_currency}"),
                ));
            }
            let title = title.ok_or_else(|| ApiError::missing("title"))?;
            let price = price.ok_or_else(|| ApiError::missing("price"))?;
            let stock = stock.ok_or_else(|| ApiError::missing("stock"))?;
            let inserted = sqlx::query(
                "INSERT INTO skus (sku, store_id, title, price, currency, stock, low_stock_threshold)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sku) DO NOTHING",
            )
            .bind(&sku)
            .bind(&store)
            .bind(&title)
            .bind(price.0)
            .bind(&store_currency)
            .bind(stock)
            .bind(threshold.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(ApiError::Conflict {
                    code: "concurrent_update",
                    message: format!("{sku} was created by another request just now; retry"),
                });
            }
            StatusCode::CREATED
        }
    };
    // Alert when the change leaves the SKU low; resolve its alerts when it is restocked
    // above its threshold. Same transaction: both happen if and only if the change does.
    stock_levels::check(&mut tx, std::slice::from_ref(&sku)).await?;
    let view = sku_view(&mut tx, &sku).await?;
    tx.commit().await?;
    Ok((status, Json(view)))
}
