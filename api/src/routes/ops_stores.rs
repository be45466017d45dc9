//! `GET /v1/ops/stores` and `PUT /v1/ops/stores/{id}` (create or replace a store). A
//! store's `price_tolerance_bps` left out keeps its value (2 % for a new store), so a
//! replacement that does not know it never loosens or tightens it by accident.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::money::{Currency, Minor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path};
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

#[derive(sqlx::FromRow)]
struct StoreRow {
    id: String,
    name: String,
    placement_mode: String,
    currency: String,
    shipping_fee: i64,
    free_shipping_threshold: Option<i64>,
    website_url: Option<String>,
    price_tolerance_bps: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize)]
pub struct StoreView {
    id: String,
    name: String,
    placement_mode: String,
    currency: String,
    shipping_fee: Minor,
    free_shipping_threshold: Option<Minor>,
    website_url: Option<String>,
    price_tolerance_bps: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<StoreRow> for StoreView {
    fn from(r: StoreRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            placement_mode: r.placement_mode,
            currency: r.currency,
            shipping_fee: Minor(r.shipping_fee),
            free_shipping_threshold: r.free_shipping_threshold.map(Minor),
            website_url: r.website_url,
            price_tolerance_bps: r.price_tolerance_bps,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, placement_mode, currency, shipping_fee, free_shipping_threshold, website_url, price_tolerance_bps, created_at, updated_at";

pub async fn list(
    State(state): State<AppState>,
    Ops(_): Ops,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stores: Vec<StoreRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stores ORDER BY id"
    )))
    .fetch_all(&state.pool)
    .await?;
    let stores: Vec<StoreView> = stores.into_iter().map(StoreView::from).collect();
    Ok(Json(serde_json::json!({ "stores": stores })))
}

pub fn store_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "id",
            "store id must be 1-63 lower-case letters, digits and dashes",
        ))
    }
}

pub async fn upsert(
    State(state): State<AppState>,
    Ops(_): Ops,
    Path(id): Path<String>,
    JsonBody { value: body, .. }: JsonBody<StoreBody>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    store_id(&id)?;
    let name = required_text("name", body.name)?;
    let mode = required_text("placement_mode", body.placement_mode)?;
    if mode != "manual" && mode != "automated" {
        return Err(ApiError::invalid(
            "placement_mode",
            "placement_mode must be \"manual\" or \"automated\"",
        ));
    }
    let currency = Currency::parse(&required_text("currency", body.currency)?)
        .map_err(|m| ApiError::invalid("currency", m))?;
    let fee = amount(
        "shipping_fee",
        Some(required_text("shipping_fee", body.shipping_fee)?),
    )?
    .unwrap_or_default();
    let threshold = amount(
        "free_shipping_threshold",
        optional_text("free_shipping_threshold", body.free_shipping_threshold)?,
    )?;
    let website_url = optional_text("website_url", body.website_url)?;
    if let Some(url) = &website_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid(
            "website_url",
            "website_url must be an http(s) URL",
        ));
    }
    let tolerance = match body.price_tolerance_bps {
        Some(bps) => Some(i32::try_from(bps).ok().filter(|b| (0..=10_000).contains(b)).ok_or_else(|| {
            ApiError::invalid(
                "price_tolerance_bps",
                "price_tolerance_bps must be a whole number of basis points from 0 to 10000",
            )
        })?),
        None => None,
    };

    let mut tx = state.pool.begin().await?;
    let other_currency: Option<String> = sqlx::query_scalar(
        "SELECT currency FROM skus WHERE store_id = $1 AND currency <> $2 LIMIT 1",
    )
    .bind(&id)
    .bind(currency.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(existing) = other_currency {
        return Err(ApiError::Conflict {
            code: "currency_in_use",
            message: format!("store {id} sells SKUs in {existing}; its currency cannot change"),
        });
    }
    // xmax = 0 only on a freshly inserted row: tells creation from replacement.
    let (created, store): (bool, StoreView) = {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO stores (id, name, placement_mode, currency, shipping_fee, free_shipping_threshold, website_url,
                                 price_tolerance_bps)
             VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, 200))
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, placement_mode = EXCLUDED.placement_mode,
                 currency = EXCLUDED.currency, shipping_fee = EXCLUDED.shipping_fee,
                 free_shipping_threshold = EXCLUDED.free_shipping_threshold,
                 website_url = EXCLUDED.website_url,
                 price_tolerance_bps = COALESCE($8, stores.price_tolerance_bps), updated_at = now()
             RETURNING (xmax = 0) AS created, {COLUMNS}"
        )))
        .bind(&id)
        .bind(&name)
        .bind(&mode)
        .bind(currency.as_str())
        .bind(fee.0)
        .bind(threshold.map(|t| t.0))
        .bind(&website_url)
        .bind(tolerance)
        .fetch_one(&mut *tx)
        .await?;
        use sqlx::{FromRow, Row};
        (row.try_get("created")?, StoreRow::from_row(&row)?.into())
    };
    tx.commit().await?;
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
