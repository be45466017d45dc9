//! `/_emulator/charges/{id}/dispute`: opens a dispute and sends `charge.dispute.created`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::error::ApiError;
use crate::ops::disputes;

#[derive(Debug, Deserialize)]
pub struct OpenDispute {
    #[serde(default = "fraudulent")]
    reason: String,
    #[serde(default)]
    amount: Option<i64>,
}

fn fraudulent() -> String {
    "fraudulent".to_owned()
}

pub async fn open(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Option<Json<OpenDispute>>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body.unwrap_or_else(|| {
        Json(OpenDispute {
            reason: fraudulent(),
            amount: None,
        })
    });
    app.with_store(|s| disputes::open(s, &id, &request.reason, request.amount))
        .map(Json)
}
