//! `PUT /v1/ops/catalog/{sku}`: create a SKU, or change its title, price, stock,
//! low-stock threshold or options, through `ops_change::sku` (as the console's restock
//! does).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::money::Currency;
use cartwright_shared::status::actor;
use serde::Deserialize;

use super::catalog::SkuView;
use super::ops_stores::amount;
use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::ops_change::sku::{self, SkuChange};
use crate::state::AppState;
use crate::validate::{self, optional_text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuBody {
    store: Option<String>,
    title: Option<String>,
    price: Option<String>,
    currency: Option<String>,
    stock: Option<i64>,
    low_stock_threshold: Option<i64>,
    /// `{"size": "M", "colour": "navy"}`; checked by `validate::sku_options`.
    options: Option<serde_json::Value>,
}

pub async fn upsert(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(sku): Path<String>,
    JsonBody { value: body, .. }: JsonBody<SkuBody>,
) -> Result<(StatusCode, Json<SkuView>), ApiError> {
    let change = SkuChange {
        store: optional_text("store", body.store)?,
        title: optional_text("title", body.title)?,
        price: amount("price", optional_text("price", body.price)?)?,
        currency: optional_text("currency", body.currency)?
            .map(|c| Currency::parse(&c).map_err(|m| ApiError::invalid("currency", m)))
            .transpose()?,
        stock: body.stock,
        low_stock_threshold: body.low_stock_threshold,
        options: body
            .options
            .as_ref()
            .map(validate::sku_options)
            .transpose()?,
    };
    let actor = actor::api_key(&principal.name);
    let (created, view) = sku::put(&state.pool, &actor, &sku, change).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}
