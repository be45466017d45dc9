//! The control API tests and the demo use: scenario switches and the order log.
//! Errors are JSON: `{"error": {"code", "message", "field"}}`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::board::Switch;
use crate::catalog::{self, Store};
use crate::scenario::Scenario;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/_admin/scenarios",
            get(list_scenarios)
                .post(set_scenario)
                .delete(reset_scenarios),
        )
        .route("/_admin/orders", get(list_orders).delete(reset_orders))
        .route("/_admin/health", get(health))
}

/// A 400 naming the offending field, if there is one.
struct AdminError {
    field: Option<&'static str>,
    message: String,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = if self.field.is_some() {
            "invalid_field"
        } else {
            "malformed_request"
        };
        let body = json!({"error": {"code": code, "field": self.field, "message": self.message}});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError {
        field: Some(field),
        message: message.into(),
    }
}

fn malformed(message: String) -> AdminError {
    AdminError {
        field: None,
        message,
    }
}

fn parse_store(id: &str) -> Result<Store, AdminError> {
    Store::parse(id).ok_or_else(|| {
        invalid(
            "store",
            format!("unknown store {id:?}; expected nordwind or rackhouse"),
        )
    })
}

/// `{"store": "nordwind", "sku": "NORD-1003", "scenario": "captcha"}`; without `sku`
/// the scenario applies to every product of the store.
#[derive(Deserialize)]
struct SwitchBody {
    store: String,
    sku: Option<String>,
    scenario: String,
}

fn parse_switch(body: SwitchBody) -> Result<Switch, AdminError> {
    let store = parse_store(&body.store)?;
    let sku = match body.sku {
        None => None,
        Some(sku) => Some(
            catalog::by_sku(store, &sku)
                .ok_or_else(|| invalid("sku", format!("{sku:?} is not a {} SKU", store.id())))?
                .sku,
        ),
    };
    let scenario =
        Scenario::parse(&body.scenario).map_err(|e| invalid("scenario", e.to_string()))?;
    Ok(Switch {
        store,
        sku,
        scenario,
    })
}

async fn set_scenario(
    State(state): State<AppState>,
    body: Result<Json<SwitchBody>, JsonRejection>,
) -> Response {
    let switch = match body
        .map_err(|e| malformed(e.body_text()))
        .and_then(|Json(b)| parse_switch(b))
    {
        Ok(switch) => switch,
        Err(error) => return error.into_response(),
    };
    tracing::info!(store = switch.store.id(), sku = ?switch.sku, scenario = switch.scenario.as_str(), "scenario on");
    state.board().set(switch.clone());
    (StatusCode::CREATED, Json(switch)).into_response()
}

async fn list_scenarios(State(state): State<AppState>) -> Response {
    Json(state.board().switches()).into_response()
}

async fn reset_scenarios(State(state): State<AppState>) -> StatusCode {
    state.board().clear();
    tracing::info!("scenarios reset");
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct OrdersQuery {
    store: Option<String>,
}

async fn list_orders(
    State(state): State<AppState>,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Response {
    let store = match query.map_err(|e| malformed(e.body_text())) {
        Ok(Query(OrdersQuery { store: Some(id) })) if !id.is_empty() => match parse_store(&id) {
            Ok(store) => Some(store),
            Err(error) => return error.into_response(),
        },
        Ok(_) => None,
        Err(error) => return error.into_response(),
    };
    Json(state.orders().list(store)).into_response()
}

async fn reset_orders(State(state): State<AppState>) -> StatusCode {
    state.orders().clear();
    tracing::info!("order log reset");
    StatusCode::NO_CONTENT
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}
