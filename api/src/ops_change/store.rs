//! Creating or replacing a store (the ops API), or editing its name, placement mode and
//! website (the console): both write the whole store through one function, with the
//! same checks and the same audit row. A store's `price_tolerance_bps` left out keeps
//! its value (2 % for a new store), so a replacement that does not know it never
//! loosens or tightens it by accident.

use cartwright_shared::money::{Currency, Minor};
use cartwright_shared::ops_audit::{self, Target};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::error::ApiError;

/// A store as ops set it; `price_tolerance_bps: None` keeps the current tolerance.
pub struct StoreSpec {
    pub name: String,
    pub placement_mode: String,
    pub currency: Currency,
    pub shipping_fee: Minor,
    pub free_shipping_threshold: Option<Minor>,
    pub website_url: Option<String>,
    pub price_tolerance_bps: Option<i64>,
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
    pub id: String,
    pub name: String,
    pub placement_mode: String,
    pub currency: String,
    pub shipping_fee: Minor,
    pub free_shipping_threshold: Option<Minor>,
    pub website_url: Option<String>,
    pub price_tolerance_bps: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<StoreView>> {
    let stores: Vec<StoreRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stores ORDER BY id"
    )))
    .fetch_all(pool)
    .await?;
    Ok(stores.into_iter().map(StoreView::from).collect())
}

/// Creates or replaces store `id` as `actor`; `true` when it was created.
pub async fn put(
    pool: &PgPool,
    actor: &str,
    id: &str,
    spec: StoreSpec,
) -> Result<(bool, StoreView), ApiError> {
    store_id(id)?;
    let mut tx = pool.begin().await?;
    let written = write(&mut tx, actor, id, spec).await?;
    tx.commit().await?;
    Ok(written)
}

/// Changes the name, placement mode and website of existing store `id` as `actor`,
/// keeping the rest.
pub async fn edit(
    pool: &PgPool,
    actor: &str,
    id: &str,
    name: String,
    placement_mode: String,
    website_url: Option<String>,
) -> Result<StoreView, ApiError> {
    let mut tx = pool.begin().await?;
    let current: Option<StoreRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stores WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or_else(|| ApiError::NotFound(format!("store {id}")))?;
    let spec = StoreSpec {
        name,
        placement_mode,
        currency: Currency::parse(&current.currency)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("store {id}: {e}")))?,
        shipping_fee: Minor(current.shipping_fee),
        free_shipping_threshold: current.free_shipping_threshold.map(Minor),
        website_url,
        price_tolerance_bps: None,
    };
    let (_, store) = write(&mut tx, actor, id, spec).await?;
    tx.commit().await?;
    Ok(store)
}

fn store_id(id: &str) -> Result<(), ApiError> {
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

async fn write(
    tx: &mut PgConnection,
    actor: &str,
    id: &str,
    spec: StoreSpec,
) -> Result<(bool, StoreView), ApiError> {
    if spec.placement_mode != "manual" && spec.placement_mode != "automated" {
        return Err(ApiError::invalid(
            "placement_mode",
            "placement_mode must be \"manual\" or \"automated\"",
        ));
    }
    if let Some(url) = &spec.website_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid(
            "website_url",
            "website_url must be an http(s) URL",
        ));
    }
    let tolerance = spec
        .price_tolerance_bps
        .map(|bps| {
            i32::try_from(bps)
                .ok()
                .filter(|b| (0..=10_000).contains(b))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "price_tolerance_bps",
                        "price_tolerance_bps must be a whole number of basis points from 0 to 10000",
                    )
                })
        })
        .transpose()?;
    let other_currency: Option<String> = sqlx::query_scalar(
        "SELECT currency FROM skus WHERE store_id = $1 AND currency <> $2 LIMIT 1",
    )
    .bind(id)
    .bind(spec.currency.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(existing) = other_currency {
        return Err(ApiError::Conflict {
            code: "currency_in_use",
            message: format!("store {id} sells SKUs in {existing}; its currency cannot change"),
        });
    }
    // xmax = 0 only on a freshly inserted row: tells creation from replacement.
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
    .bind(id)
    .bind(&spec.name)
    .bind(&spec.placement_mode)
    .bind(spec.currency.as_str())
    .bind(spec.shipping_fee.0)
    .bind(spec.free_shipping_threshold.map(|t| t.0))
    .bind(&spec.website_url)
    .bind(tolerance)
    .fetch_one(&mut *tx)
    .await?;
    use sqlx::{FromRow, Row};
    let created: bool = row.try_get("created")?;
    let store = StoreView::from(StoreRow::from_row(&row)?);
    let action = if created {
        "store.create"
    } else {
        "store.update"
    };
    ops_audit::record(
        tx,
        actor,
        action,
        Target::Store(id),
        json!({
            "name": store.name,
            "placement_mode": store.placement_mode,
            "currency": store.currency,
            "shipping_fee": store.shipping_fee,
            "free_shipping_threshold": store.free_shipping_threshold,
            "website_url": store.website_url,
            "price_tolerance_bps": store.price_tolerance_bps,
        }),
    )
    .await?;
    Ok((created, store))
}
