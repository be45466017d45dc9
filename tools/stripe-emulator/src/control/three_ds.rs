//! Completing or failing a 3-D Secure challenge: a JSON control endpoint for tests, and the
//! page `next_action` links to, for a browser.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::error::ApiError;
use crate::ops::confirm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeed,
    Fail,
}

#[derive(Debug, Deserialize)]
pub struct Challenge {
    outcome: Outcome,
}

/// `POST /_emulator/payment_intents/{id}/3ds` with `{"outcome": "succeed"|"fail"}`.
pub async fn complete(
    State(app): State<App>,
    Path(id): Path<String>,
    Json(challenge): Json<Challenge>,
) -> Result<Json<Value>, ApiError> {
    let succeed = challenge.outcome == Outcome::Succeed;
    app.with_store(|s| confirm::complete_authentication(s, &id, succeed))
        .map(Json)
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    outcome: Option<Outcome>,
}

/// `GET /_emulator/3ds/{id}`: a page with both choices; `?outcome=…` applies one and
/// redirects to the PaymentIntent's `return_url` (if it has one) the way Stripe does.
pub async fn page(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let Some(outcome) = query.outcome else {
        return Html(format!(
            "<!doctype html><title>3-D Secure (Stripe emulator)</title>\
             <h1>3-D Secure challenge for {id}</h1>\
             <p><a href=\"?outcome=succeed\">Complete authentication</a></p>\
             <p><a href=\"?outcome=fail\">Fail authentication</a></p>"
        ))
        .into_response();
    };
    let result = app.with_store(|s| {
        let return_url = s.intents.get(&id).and_then(|pi| pi.return_url.clone());
        let secret = s
            .intents
            .get(&id)
            .map(|pi| pi.client_secret.clone())
            .unwrap_or_default();
        confirm::complete_authentication(s, &id, outcome == Outcome::Succeed)
            .map(|pi| (pi, return_url, secret))
    });
    match result {
        Err(err) => err.into_response(),
        Ok((pi, None, _)) => Json(pi).into_response(),
        Ok((pi, Some(return_url), secret)) => {
            let status = pi["status"].as_str().unwrap_or_default();
            let redirect_status = if status == "requires_payment_method" {
                "failed"
            } else {
                "succeeded"
            };
            let separator = if return_url.contains('?') { '&' } else { '?' };
            Redirect::to(&format!(
                "{return_url}{separator}payment_intent={id}&payment_intent_client_secret={secret}\
                 &redirect_status={redirect_status}"
            ))
            .into_response()
        }
    }
}
