//! The `framed_address` checkout's address form: its own page, shown in an `<iframe>` of
//! the checkout (as shops embed an address service), saved to the basket's session.
//! Sent by its button or by Enter in a field, as people do.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Deserialize;

use super::STORE;
use crate::address::AddressInput;
use crate::render::PageResult;
use crate::session;
use crate::state::AppState;

pub const PATH: &str = "/nordwind/checkout/address";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddressForm {
    name: String,
    line1: String,
    line2: String,
    city: String,
    state: String,
    postal_code: String,
    country: String,
}

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let saved = state.session(session::read_cookie(&headers, STORE)).address;
    state.templates.page(
        StatusCode::OK,
        "nordwind/address_frame.html",
        context! { saved, errors => Vec::<String>::new() },
    )
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AddressForm>,
) -> PageResult {
    let input = AddressInput {
        name: form.name,
        line1: form.line1,
        line2: form.line2,
        city: form.city,
        state: form.state,
        postal_code: form.postal_code,
        country: form.country,
    };
    let errors = match (session::read_cookie(&headers, STORE), input.validate()) {
        (Some(id), Ok(address)) => {
            state.sessions().entry(id).address = Some(address);
            return Ok(Redirect::to(PATH).into_response());
        }
        (_, Err(errors)) => errors,
        (None, Ok(_)) => vec!["Your basket has expired.".to_owned()],
    };
    state.templates.page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "nordwind/address_frame.html",
        context! { saved => None::<()>, errors },
    )
}
