//! `/v1/refunds` handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use serde_json::Value;

use super::{form, list, query};
use crate::app::App;
use crate::error::ApiError;
use crate::ops::{refunds, render};
use crate::store::Origin;

type Answer = Result<Json<Value>, ApiError>;

pub async fn create(
    State(app): State<App>,
    Extension(origin): Extension<Origin>,
    body: Bytes,
) -> Answer {
    let params = form(&body)?;
    app.with_store(|s| refunds::create(s, &origin, &params))
        .map(Json)
}

pub async fn retrieve(State(app): State<App>, Path(id): Path<String>, raw: RawQuery) -> Answer {
    let params = query(raw)?;
    app.with_store(|s| refunds::retrieve(s, &id, &params))
        .map(Json)
}

/// Newest first, optionally only those of one `payment_intent` or `charge`.
pub async fn list(State(app): State<App>, raw: RawQuery) -> Answer {
    let params = query(raw)?;
    let pi = params.text("payment_intent");
    let charge = params.text("charge");
    let expand = params.list("expand");
    app.with_store(|s| {
        let items = s
            .refunds
            .iter()
            .rev()
            .filter(|r| pi.as_ref().is_none_or(|p| *p == r.payment_intent))
            .filter(|r| charge.as_ref().is_none_or(|c| *c == r.charge))
            .map(|r| (r.id.clone(), render::refund(s, r, &expand)))
            .collect();
        list::page(items, &params, "/v1/refunds").map(Json)
    })
}
