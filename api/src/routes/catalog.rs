//! `GET /v1/catalog?store=`: what can be bought, at what price, and how many are left.

use axum::Json;
use axum::extract::State;
use cartwright_shared::money::Minor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::ApiError;
use crate::extract::{Authenticated, Query};
use crate::state::AppState;

#[derive(Serialize)]
pub struct SkuView {
    sku: String,
    store: String,
    title: String,
    price: Minor,
    currency: String,
    pub stock: i32,
    reserved: i32,
    available: i32,
    low_stock_threshold: i32,
    /// The variant's options (`{"size": "M"}`), `{}` for none.
    options: Value,
}

type SkuRow = (String, String, String, i64, String, i32, i32, i32, Value);

const COLUMNS: &str =
    "sku, store_id, title, price, currency, stock, reserved, low_stock_threshold, options";

fn view(
    (sku, store, title, price, currency, stock, reserved, threshold, options): SkuRow,
) -> SkuView {
    SkuView {
        sku,
        store,
        title,
        price: Minor(price),
        currency,
        stock,
        reserved,
        available: stock - reserved,
        low_stock_threshold: threshold,
        options,
    }
}

pub async fn sku_view(conn: &mut PgConnection, sku: &str) -> sqlx::Result<SkuView> {
    let row: SkuRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM skus WHERE sku = $1"
    )))
    .bind(sku)
    .fetch_one(conn)
    .await?;
    Ok(view(row))
}

#[derive(Deserialize)]
pub struct CatalogQuery {
    store: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows: Vec<SkuRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM skus WHERE ($1::TEXT IS NULL OR store_id = $1) ORDER BY sku"
    )))
    .bind(query.store)
    .fetch_all(&state.pool)
    .await?;
    let items: Vec<SkuView> = rows.into_iter().map(view).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}
