//! `GET /v1/orders/{number}`: one store order with its lines and history; for ops also
//! what the retailer charged for it and who made each change (`view::History`).
//! `GET /v1/orders?customer=`: a customer's orders at the calling storefront.

use axum::Json;
use axum::extract::State;
use cartwright_shared::api_keys::Role;
use serde::Deserialize;

use crate::checkout::customer_orders::{self, Cursor, CustomerKey, DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::checkout::view::{self, OrderView, Reader};
use crate::error::ApiError;
use crate::extract::{Authenticated, Path, Query, Storefront};
use crate::state::AppState;
use crate::validate;

pub async fn show(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(number): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    match view::order(&mut conn, &number, Reader::from(principal.role)).await? {
        Some((owner, order)) if principal.role == Role::Ops || owner == principal.name => {
            Ok(Json(order))
        }
        _ => Err(ApiError::NotFound(format!("order {number}"))),
    }
}

/// Every parameter as text, so that each bad one is refused here, naming it.
#[derive(Deserialize)]
pub struct ListQuery {
    customer: Option<String>,
    email: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// Storefronts only: a customer reference means something only to the storefront that
/// gave it, and each sees its own principal's orders, whichever of its keys it uses.
pub async fn list(
    State(state): State<AppState>,
    Storefront(principal): Storefront,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let key = match (query.customer, query.email) {
        (Some(reference), None) => CustomerKey::Reference(
            validate::customer_reference(&reference)
                .map_err(|message| ApiError::bad_parameter("customer", message))?,
        ),
        (None, Some(email)) => CustomerKey::Email(
            validate::email("email", Some(email))
                .map_err(|_| ApiError::bad_parameter("email", "email is not an e-mail address"))?,
        ),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_parameter(
                "email",
                "give customer or email, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_parameter(
                "customer",
                "customer (the storefront's customer reference) or email is required",
            ));
        }
    };
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_parameter(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let cursor = query
        .cursor
        .map(|text| {
            Cursor::decode(&text).ok_or_else(|| {
                ApiError::bad_parameter(
                    "cursor",
                    "cursor is not one this API gave out; pass a page's next_cursor as it is",
                )
            })
        })
        .transpose()?;
    let mut conn = state.pool.acquire().await?;
    let page =
        customer_orders::page(&mut conn, &principal.name, &key, cursor.as_ref(), limit).await?;
    Ok(Json(page))
}
