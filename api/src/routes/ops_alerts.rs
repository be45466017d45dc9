//! `GET /v1/ops/alerts`: the open low-stock alerts, newest first. An alert opens when a
//! SKU's available stock falls to its threshold (`low`) or to zero (`out`), and resolves
//! when `PUT /v1/ops/catalog/{sku}` restocks it above its threshold.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::Ops;
use crate::state::AppState;

#[derive(Serialize, sqlx::FromRow)]
pub struct AlertView {
    id: i64,
    sku: String,
    title: String,
    level: String,
    available: i32,
    threshold: i32,
    opened_at: DateTime<Utc>,
    emailed_at: Option<DateTime<Utc>>,
    webhook_sent_at: Option<DateTime<Utc>>,
}

pub async fn list(State(state): State<AppState>, Ops(_): Ops) -> Result<Json<Value>, ApiError> {
    let alerts: Vec<AlertView> = sqlx::query_as(
        "SELECT a.id, a.sku, s.title, a.level, a.available, a.threshold, a.opened_at,
                a.emailed_at, a.webhook_sent_at
         FROM stock_alerts a JOIN skus s ON s.sku = a.sku
         WHERE a.state = 'open' ORDER BY a.id DESC",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(json!({ "alerts": alerts })))
}
