//! `POST /v1/quotes`: a checkout's body priced as the checkout would be, without an
//! `Idempotency-Key` (nothing is written, so there is nothing to repeat) and without a
//! payment method (ignored when sent, so a storefront may quote the very body it will
//! submit).

use axum::Json;
use axum::extract::State;

use crate::checkout::quote::{self, QuoteView};
use crate::checkout::request::{Cart, CheckoutBody};
use crate::error::ApiError;
use crate::extract::{JsonBody, Storefront};
use crate::state::AppState;
use crate::validate;

pub async fn create(
    State(state): State<AppState>,
    Storefront(_): Storefront,
    body: JsonBody<CheckoutBody>,
) -> Result<Json<QuoteView>, ApiError> {
    validate::refuse_hidden_or_private(&body.json)?;
    let cart = Cart::try_from(body.value)?;
    Ok(Json(quote::quote(&state.pool, &cart).await?))
}
