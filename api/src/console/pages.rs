//! The console's pages and form handlers. Every POST checks the session's CSRF token
//! first; a refused action re-renders with a plain-words error and a 4xx status.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartwright_shared::ids::new_secret;
use cartwright_shared::placement::{cancel, manual_queue};
use cartwright_shared::queue::dead_letters;
use cartwright_shared::status::order;
use minijinja::context;
use serde_json::{Value, json};

use super::form::{ConsoleForm, Fields};
use super::session::{self, PRE_CSRF_COOKIE, SESSION_COOKIE, Session};
use super::{error_page, render};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::ops_change::refund::{self, RefundBody};
use crate::ops_change::sku::{self, SkuChange};
use crate::ops_change::store;
use crate::placement::{self, Filter};
use crate::routes::ops_orders::cancel_error;
use crate::routes::ops_placements::PlacedBody;
use crate::state::AppState;
use crate::validate::{optional_text, required_text};

fn field(fields: &Fields, name: &str) -> Option<String> {
    fields.get(name).cloned()
}

fn csrf_refused(session: &Session) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        Some(session),
        "This form was refused: its security token is missing or does not match your session \
         (it may come from another site, or the page is out of date). Reload the page and try again.",
    )
}

/// An API error as a status and plain words for a page.
fn explain(err: ApiError) -> (StatusCode, String) {
    let status = match &err {
        ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::Conflict { .. } => StatusCode::CONFLICT,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal(source) => {
            tracing::error!(error = ?source, "console: internal error");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; the change was not made. Try again, and tell engineering if it persists.".into(),
            );
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (status, err.to_string())
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub async fn home(_: Session) -> Redirect {
    Redirect::to("/ops/queue")
}

fn sign_in_page(secure: bool, status: StatusCode, error: Option<&str>) -> Response {
    let token = new_secret(32);
    let mut response = render(
        status,
        "sign_in.html",
        context! { title => "Sign in", csrf => token, error => error },
    );
    let cookie = session::set_cookie(secure, PRE_CSRF_COOKIE, &token, 3600);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn sign_in_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    sign_in_page(session::secure(&state, &headers), StatusCode::OK, None)
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    let secure = session::secure(&state, &headers);
    let expected = session::cookie(&headers, PRE_CSRF_COOKIE).unwrap_or_default();
    if !session::tokens_match(&expected, fields.get("csrf").map(String::as_str)) {
        return sign_in_page(
            secure,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired or did not come from this console. Please try again."),
        );
    }
    let key = field(&fields, "key").unwrap_or_default();
    if key.trim().is_empty() {
        return sign_in_page(
            secure,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your ops API key."),
        );
    }
    let ttl = state.config.placement.console_session_ttl;
    match session::sign_in(&state.pool, &key, ttl).await {
        Ok(Some((id, _))) => {
            let mut response = Redirect::to("/ops/queue").into_response();
            let headers_out = response.headers_mut();
            for cookie in [
                session::set_cookie(secure, SESSION_COOKIE, &id, ttl.as_secs()),
                session::set_cookie(secure, PRE_CSRF_COOKIE, "", 0),
            ] {
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    headers_out.append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(None) => sign_in_page(
            secure,
            StatusCode::UNAUTHORIZED,
            Some("That key was not accepted: it is unknown, revoked, or not an ops key."),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "console sign-in failed");
            sign_in_page(
                secure,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The database cannot be reached right now; try again shortly."),
            )
        }
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    if !session.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return csrf_refused(&session);
    }
    if let Some(id) = session::cookie(&headers, SESSION_COOKIE) {
        let _ = session::sign_out(&state.pool, &id).await;
    }
    let mut response = Redirect::to("/ops/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(
        session::secure(&state, &headers),
        SESSION_COOKIE,
        "",
        0,
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn store_ids(state: &AppState) -> Vec<String> {
    sqlx::query_scalar("SELECT id FROM stores ORDER BY id")
        .fetch_all(&state.pool)
        .await
        .unwrap_or_default()
}

pub async fn queue(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Fields>,
) -> Response {
    let get = |k: &str| query.get(k).cloned();
    let filter = Filter::parse(get("status"), get("store"), get("reason"), None, Some(200));
    let (status, error, entries) = match filter {
        Err(err) => {
            let (status, message) = explain(err);
            (status, Some(message), Vec::new())
        }
        Ok(filter) => match placement::list(&state.pool, &filter).await {
            Ok((entries, _)) => (StatusCode::OK, None, entries),
            Err(err) => {
                let (status, message) = explain(err.into());
                (status, Some(message), Vec::new())
            }
        },
    };
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut row = json!(e);
            row["age"] = json!(age(e.age_seconds));
            row["mine"] = json!(e.claimed_by.as_deref() == Some(session.actor().as_str()));
            row
        })
        .collect();
    render(
        status,
        "queue.html",
        context! {
            title => "Manual queue",
            user => session.principal,
            csrf => session.csrf,
            entries => rows,
            error => error,
            notice => get("done"),
            status_filter => get("status").unwrap_or_else(|| "open".into()),
            store_filter => get("store").unwrap_or_default(),
            reason_filter => get("reason").unwrap_or_default(),
            statuses => placement::STATUS_FILTERS,
            reasons => cartwright_shared::placement::reason::ALL,
            stores => store_ids(&state).await,
        },
    )
}

async fn order_page(
    state: &AppState,
    session: &Session,
    number: &str,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    form: &Fields,
) -> Response {
    let card = &state.config.placement.card_reference;
    let instructions = match placement::instructions(&state.pool, number, card).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                Some(session),
                &format!("Order {number} is not in the manual queue."),
            );
        }
        Err(err) => {
            let (status, message) = explain(err);
            return error_page(status, Some(session), &message);
        }
    };
    let a = &instructions.shipping_address;
    let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let address_lines: Vec<String> = [
        text("name"),
        text("line1"),
        text("line2"),
        format!(
            "{}, {} {}",
            text("city"),
            text("state"),
            text("postal_code")
        ),
        text("country"),
    ]
    .into_iter()
    .filter(|l| !l.trim().is_empty())
    .collect();
    let mine = instructions.placement.claimed_by.as_deref() == Some(session.actor().as_str());
    let order_status = instructions.order.status.as_str();
    let cancellable = cancel::CANCELLABLE.contains(&order_status);
    let refundable = order::BOUGHT.contains(&order_status);
    let age = age(instructions.placement.age_seconds);
    render(
        status,
        "order.html",
        context! {
            title => format!("Order {number}"),
            user => session.principal.clone(),
            csrf => session.csrf.clone(),
            i => instructions,
            address_lines => address_lines,
            mine => mine,
            age => age,
            cancellable => cancellable,
            refundable => refundable,
            refund_key => new_secret(16),
            refund_reasons => refund::REASONS,
            error => error,
            notice => notice,
            form => form,
        },
    )
}

pub async fn order(
    State(state): State<AppState>,
    session: Session,
    Path(number): Path<String>,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query.get("done").map(|d| match d.as_str() {
        "claim" => "Claimed: the order is yours while the lease lasts.".to_owned(),
        "renew" => "Lease renewed.".to_owned(),
        "refund" => "Refund requested: the payment worker refunds it through Stripe.".to_owned(),
        other => format!("Done: {other}."),
    });
    order_page(
        &state,
        &session,
        &number,
        StatusCode::OK,
        None,
        notice,
        &Fields::new(),
    )
    .await
}

pub async fn order_action(
    State(state): State<AppState>,
    session: Session,
    Path((number, action)): Path<(String, String)>,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    if !session.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return csrf_refused(&session);
    }
    let who = session.actor();
    let lease = state.config.placement.lease;
    let result: Result<(), ApiError> = match action.as_str() {
        "claim" => manual_queue::claim(&state.pool, &number, &who, lease)
            .await
            .map(|_| ())
            .map_err(placement::error),
        "renew" => manual_queue::renew(&state.pool, &number, &who, lease)
            .await
            .map(|_| ())
            .map_err(placement::error),
        "placed" => {
            let body = PlacedBody {
                store_order_number: field(&fields, "store_order_number"),
                tracking_number: field(&fields, "tracking_number"),
                carrier: field(&fields, "carrier"),
                total_paid: field(&fields, "total_paid"),
            };
            match body.parse() {
                Ok(placed) => manual_queue::place(&state.pool, &number, &who, &placed)
                    .await
                    .map_err(placement::error),
                Err(err) => Err(err),
            }
        }
        "cancel" => match required_text("reason", field(&fields, "reason")) {
            Ok(reason) => cancel::cancel(&state.pool, &number, &who, &reason)
                .await
                .map(|_| ())
                .map_err(cancel_error),
            Err(err) => Err(err),
        },
        "refund" => console_refund(&state, &session, &number, &fields).await,
        "failed" => match required_text("reason", field(&fields, "reason")) {
            Ok(reason) => manual_queue::fail(&state.pool, &number, &who, &reason)
                .await
                .map_err(placement::error),
            Err(err) => Err(err),
        },
        _ => {
            return error_page(StatusCode::NOT_FOUND, Some(&session), "No such action.");
        }
    };
    match result {
        Ok(()) if action == "placed" || action == "failed" || action == "cancel" => {
            Redirect::to(&format!("/ops/queue?done={action}+{number}")).into_response()
        }
        Ok(()) => Redirect::to(&format!("/ops/orders/{number}?done={action}")).into_response(),
        Err(err) => {
            let (status, message) = explain(err);
            order_page(
                &state,
                &session,
                &number,
                status,
                Some(message),
                None,
                &fields,
            )
            .await
        }
    }
}

/// The console's refund form: the same function as the API, under the idempotency key
/// the page was rendered with, so submitting the form twice refunds once.
async fn console_refund(
    state: &AppState,
    session: &Session,
    number: &str,
    fields: &Fields,
) -> Result<(), ApiError> {
    let text = |name: &str| field(fields, name).filter(|v| !v.trim().is_empty());
    let body = RefundBody {
        amount: text("amount").map(|a| a.trim().to_owned()),
        reason: text("refund_reason"),
        restock: Some(fields.get("restock").is_some_and(|v| v == "true")),
    };
    let ask = body.parse()?;
    let key = text("idempotency_key").ok_or_else(|| ApiError::missing("idempotency_key"))?;
    let request = json!({ "amount": body.amount, "reason": body.reason, "restock": body.restock });
    refund::request(
        &state.pool,
        &session.actor(),
        number,
        &ask,
        &refund::Idempotency {
            principal: &session.principal,
            key: &key,
            body: &request,
        },
    )
    .await
    .map(|_| ())
}

pub async fn dead_letters(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Fields>,
) -> Response {
    let rows = dead_letters::list(
        &state.pool,
        dead_letters::Filter {
            queue: None,
            status: "dead",
            before: None,
            limit: 100,
        },
    )
    .await;
    let (status, error, rows) = match rows {
        Ok(rows) => (StatusCode::OK, None, rows),
        Err(err) => {
            let (status, message) = explain(err.into());
            (status, Some(message), Vec::new())
        }
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            v["body_text"] = json!(serde_json::to_string_pretty(&r.body).unwrap_or_default());
            v
        })
        .collect();
    render(
        status,
        "dead_letters.html",
        context! {
            title => "Dead letters",
            user => session.principal,
            csrf => session.csrf,
            rows => rows,
            error => error,
            notice => query.get("done").cloned(),
        },
    )
}

pub async fn dead_letter_action(
    State(state): State<AppState>,
    session: Session,
    Path((id, action)): Path<(i64, String)>,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    if !session.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return csrf_refused(&session);
    }
    let who = session.actor();
    let result = match action.as_str() {
        "replay" => dead_letters::replay(&state.pool, id, &who).await,
        "discard" => dead_letters::discard(&state.pool, id, &who).await,
        _ => return error_page(StatusCode::NOT_FOUND, Some(&session), "No such action."),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/ops/dead-letters?done={action}ed+{id}")).into_response(),
        Err(err) => {
            let status = match err {
                dead_letters::ResolveError::NotFound(_) => StatusCode::NOT_FOUND,
                dead_letters::ResolveError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::CONFLICT,
            };
            error_page(status, Some(&session), &err.to_string())
        }
    }
}

pub async fn stores(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<Fields>,
) -> Response {
    stores_page(
        &state,
        &session,
        StatusCode::OK,
        None,
        query.get("done").cloned(),
    )
    .await
}

/// id, name, placement mode, website.
type StoreRow = (String, String, String, Option<String>);
/// sku, store, title, price, stock, reserved, low-stock threshold.
type SkuRow = (String, String, String, i64, i32, i32, i32);

async fn stores_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let stores: sqlx::Result<Vec<StoreRow>> =
        sqlx::query_as("SELECT id, name, placement_mode, website_url FROM stores ORDER BY id")
            .fetch_all(&state.pool)
            .await;
    let skus: sqlx::Result<Vec<SkuRow>> = sqlx::query_as(
        "SELECT sku, store_id, title, price, stock, reserved, low_stock_threshold FROM skus ORDER BY store_id, sku",
    )
    .fetch_all(&state.pool)
    .await;
    let (Ok(stores), Ok(skus)) = (stores, skus) else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(session),
            "The database cannot be reached right now; try again shortly.",
        );
    };
    let stores: Vec<Value> = stores
        .into_iter()
        .map(|(id, name, mode, url)| json!({"id": id, "name": name, "placement_mode": mode, "website_url": url}))
        .collect();
    let skus: Vec<Value> = skus
        .into_iter()
        .map(|(sku, store, title, price, stock, reserved, threshold)| {
            json!({"sku": sku, "store": store, "title": title,
                "price": cartwright_shared::money::Minor(price), "stock": stock, "reserved": reserved,
                "available": stock - reserved, "low": stock - reserved <= threshold, "threshold": threshold})
        })
        .collect();
    render(
        status,
        "stores.html",
        context! {
            title => "Stores and stock",
            user => session.principal.clone(),
            csrf => session.csrf.clone(),
            stores => stores,
            skus => skus,
            error => error,
            notice => notice,
        },
    )
}

pub async fn store_update(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    if !session.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return csrf_refused(&session);
    }
    let result = async {
        let name = required_text("name", field(&fields, "name"))?;
        let mode = required_text("placement_mode", field(&fields, "placement_mode"))?;
        let url = optional_text("website_url", field(&fields, "website_url"))?;
        store::edit(&state.pool, &session.actor(), &id, name, mode, url).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/ops/stores?done=saved+{id}")).into_response(),
        Err(ApiError::NotFound(_)) => error_page(
            StatusCode::NOT_FOUND,
            Some(&session),
            &format!("No store {id}."),
        ),
        Err(err) => {
            let (status, message) = explain(err);
            stores_page(
                &state,
                &session,
                status,
                Some(format!("Store {id}: {message}")),
                None,
            )
            .await
        }
    }
}

/// Sets a SKU's stock through the same change as `PUT /v1/ops/catalog/{sku}`: audited,
/// and raising or resolving its low-stock alerts.
pub async fn restock(
    State(state): State<AppState>,
    session: Session,
    Path(sku): Path<String>,
    ConsoleForm(fields): ConsoleForm,
) -> Response {
    if !session.csrf_ok(fields.get("csrf").map(String::as_str)) {
        return csrf_refused(&session);
    }
    let Some(stock) = field(&fields, "stock").and_then(|s| s.trim().parse::<i64>().ok()) else {
        return stores_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(format!(
                "{sku}: stock must be a whole number from 0 to {}.",
                sku::MAX_COUNT
            )),
            None,
        )
        .await;
    };
    let known: sqlx::Result<bool> =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM skus WHERE sku = $1)")
            .bind(&sku)
            .fetch_one(&state.pool)
            .await;
    let result = match known {
        // Only ops' API creates SKUs: the form changes one on the page.
        Ok(false) => Err(ApiError::NotFound(format!("SKU {sku}"))),
        Ok(true) => {
            let change = SkuChange {
                stock: Some(stock),
                ..SkuChange::default()
            };
            sku::put(&state.pool, &session.actor(), &sku, change).await
        }
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/ops/stores?done=stock+{sku}")).into_response(),
        Err(ApiError::NotFound(_)) => error_page(
            StatusCode::NOT_FOUND,
            Some(&session),
            &format!("No SKU {sku}."),
        ),
        Err(err) => {
            let (status, message) = explain(err);
            stores_page(
                &state,
                &session,
                status,
                Some(format!("{sku}: {message}")),
                None,
            )
            .await
        }
    }
}

pub async fn stats(State(state): State<AppState>, session: Session) -> Response {
    match placement::stats(&state.pool).await {
        Ok(stats) => {
            let oldest = stats["queue"]["oldest_waiting_age_seconds"]
                .as_i64()
                .map(age);
            render(
                StatusCode::OK,
                "stats.html",
                context! {
                    title => "Stats",
                    user => session.principal,
                    csrf => session.csrf,
                    stats => stats,
                    oldest => oldest,
                },
            )
        }
        Err(err) => {
            let (status, message) = explain(err.into());
            error_page(status, Some(&session), &message)
        }
    }
}
