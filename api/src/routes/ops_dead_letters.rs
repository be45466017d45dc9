//! Dead letters for ops: list, replay (one, or all of a queue), discard.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cartwright_shared::queue::dead_letters::{self, Filter, ResolveError};
use cartwright_shared::status::actor;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{JsonBody, Ops, Path, Query};
use crate::state::AppState;

const MAX_PAGE: i64 = 200;

#[derive(Deserialize)]
pub struct ListQuery {
    queue: Option<String>,
    status: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Ops(_): Ops,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = query.status.as_deref().unwrap_or("dead");
    if !["dead", "replayed", "discarded"].contains(&status) {
        return Err(ApiError::invalid(
            "status",
            "status must be dead, replayed or discarded",
        ));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let rows = dead_letters::list(
        &state.pool,
        Filter {
            queue: query.queue.as_deref(),
            status,
            before: query.before,
            limit,
        },
    )
    .await?;
    // The next page starts below the last id of this one.
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(
        json!({ "dead_letters": rows, "next_before": next_before }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    id: Option<i64>,
    queue: Option<String>,
}

pub async fn replay(
    State(state): State<AppState>,
    Ops(principal): Ops,
    JsonBody { value: body, .. }: JsonBody<ReplayBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = actor::api_key(&principal.name);
    match (body.id, body.queue) {
        (Some(id), None) => {
            dead_letters::replay(&state.pool, id, &who)
                .await
                .map_err(resolve_error)?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": 1 }))))
        }
        (None, Some(queue)) => {
            let replayed = dead_letters::replay_queue(&state.pool, &queue, &who)
                .await
                .map_err(resolve_error)?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": replayed }))))
        }
        _ => Err(ApiError::invalid(
            "id",
            "give either id (one dead letter) or queue (all of a queue)",
        )),
    }
}

pub async fn discard(
    State(state): State<AppState>,
    Ops(principal): Ops,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    dead_letters::discard(&state.pool, id, &actor::api_key(&principal.name))
        .await
        .map_err(resolve_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn resolve_error(err: ResolveError) -> ApiError {
    match err {
        ResolveError::NotFound(id) => ApiError::NotFound(format!("dead letter {id}")),
        ResolveError::AlreadyResolved { .. } => ApiError::Conflict {
            code: "already_resolved",
            message: err.to_string(),
        },
        ResolveError::NotReplayable(_) => ApiError::Conflict {
            code: "not_replayable",
            message: err.to_string(),
        },
        ResolveError::Database(err) => err.into(),
    }
}
