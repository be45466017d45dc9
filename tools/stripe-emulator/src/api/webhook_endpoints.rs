//! `/v1/webhook_endpoints` handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use super::{form, list, query};
use crate::app::App;
use crate::error::ApiError;
use crate::ids;
use crate::model::WebhookEndpoint;

type Answer = Result<Json<Value>, ApiError>;

pub async fn create(State(app): State<App>, body: Bytes) -> Answer {
    let params = form(&body)?;
    let url = params.required("url")?.to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::invalid(format!("Invalid URL: {url}"))
            .code("url_invalid")
            .param("url"));
    }
    let enabled_events = params.list("enabled_events");
    if enabled_events.is_empty() {
        return Err(ApiError::missing_param("enabled_events"));
    }
    let endpoint = WebhookEndpoint {
        id: ids::new("we"),
        url,
        secret: ids::with_len("whsec", 32),
        enabled_events,
        description: params.text("description"),
        metadata: params.map("metadata")?,
        created: ids::now(),
    };
    let value = endpoint.to_json(true);
    tracing::info!(endpoint = %endpoint.id, url = %endpoint.url, "webhook endpoint registered");
    app.with_store(|s| s.endpoints.insert(endpoint));
    Ok(Json(value))
}

pub async fn retrieve(State(app): State<App>, Path(id): Path<String>) -> Answer {
    app.with_store(|s| {
        let endpoint = s
            .endpoints
            .get(&id)
            .ok_or_else(|| ApiError::no_such_path("webhook_endpoint", &id))?;
        Ok(Json(endpoint.to_json(false)))
    })
}

pub async fn list(State(app): State<App>, raw: RawQuery) -> Answer {
    let params = query(raw)?;
    app.with_store(|s| {
        let items = s
            .endpoints
            .iter()
            .rev()
            .map(|e| (e.id.clone(), e.to_json(false)))
            .collect();
        list::page(items, &params, "/v1/webhook_endpoints").map(Json)
    })
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>) -> Answer {
    app.with_store(|s| {
        s.endpoints
            .remove(&id)
            .ok_or_else(|| ApiError::no_such_path("webhook_endpoint", &id))?;
        Ok(Json(
            json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
        ))
    })
}
