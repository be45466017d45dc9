//! `/v1/events` handlers.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::Value;

use super::{list, query};
use crate::app::App;
use crate::error::ApiError;

type Answer = Result<Json<Value>, ApiError>;

pub async fn retrieve(State(app): State<App>, Path(id): Path<String>) -> Answer {
    app.with_store(|s| {
        let event = s
            .events
            .get(&id)
            .ok_or_else(|| ApiError::no_such_path("event", &id))?;
        Ok(Json(event.to_json(&s.api_version)))
    })
}

/// Newest first; `type` filters by an exact type or a `prefix.*` wildcard.
pub async fn list(State(app): State<App>, raw: RawQuery) -> Answer {
    let params = query(raw)?;
    let wanted = params.text("type");
    let matches = |type_: &str| match wanted.as_deref() {
        None => true,
        Some(w) => w
            .strip_suffix('*')
            .map_or(w == type_, |prefix| type_.starts_with(prefix)),
    };
    app.with_store(|s| {
        let items = s
            .events
            .iter()
            .rev()
            .filter(|e| matches(&e.type_))
            .map(|e| (e.id.clone(), e.to_json(&s.api_version)))
            .collect();
        list::page(items, &params, "/v1/events").map(Json)
    })
}
