//! `GET /v1/ops/stores` and `PUT /v1/ops/stores/{id}` (create or replace a store,
//! through `ops_change::store`, as the console does).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::money::{Currency, Minor};
use cartwright_shared::status::actor;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
use crate::ops_change::store::{self, StoreSpec, StoreView};
use crate::state::AppState;
use crate::validate::{optional_text, required_text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreBody {
    name: Option<String>,
    placement_mode: Option<String>,
    currency: Option<String>,
    shipping_fee: Option<String>,
    free_shipping_threshold: Option<String>,
    website_url: Option<String>,
    price_tolerance_bps: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Ops(_): Ops,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stores = store::list(&state.pool).await?;
    Ok(Json(serde_json::json!({ "stores": stores })))
}

pub async fn upsert(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(id): Path<String>,
    JsonBody { value: body, .. }: JsonBody<StoreBody>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    let spec = StoreSpec {
        name: required_text("name", body.name)?,
        placement_mode: required_text("placement_mode", body.placement_mode)?,
        currency: Currency::parse(&required_text("currency", body.currency)?)
            .map_err(|m| ApiError::invalid("currency", m))?,
        shipping_fee: amount(
            "shipping_fee",
            Some(required_text("shipping_fee", body.shipping_fee)?),
        )?
        .unwrap_or_default(),
        free_shipping_threshold: amount(
            "free_shipping_threshold",
            optional_text("free_shipping_threshold", body.free_shipping_threshold)?,
        )?,
        website_url: optional_text("website_url", body.website_url)?,
        price_tolerance_bps: body.price_tolerance_bps,
    };
    let actor = actor::api_key(&principal.name);
    let (created, store) = store::put(&state.pool, &actor, &id, spec).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(store)))
}

/// A money field given as a decimal string ("5.99").
pub fn amount(field: &str, value: Option<String>) -> Result<Option<Minor>, ApiError> {
    value
        .map(|raw| {
            Minor::parse_decimal(&raw)
                .map_err(|m| ApiError::invalid(field, format!("{field}: {m}")))
        })
        .transpose()
}
