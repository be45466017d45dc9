//! Console sign-in: an ops API key is checked once and exchanged for a server-side
//! session. The cookie holds a random session id (only its SHA-256 is stored); it is
//! HttpOnly, SameSite=Strict, scoped to /ops, and Secure unless the deployment says
//! the console is reached over plain HTTP (`CONSOLE_PLAIN_HTTP`). Every form carries the session's CSRF token, compared in constant time. The
//! sign-in form itself, before any session exists, uses a double-submit cookie.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use cartwright_shared::api_keys::{self, Role};
use cartwright_shared::ids::new_secret;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cw_session";
pub const PRE_CSRF_COOKIE: &str = "cw_signin_csrf";

/// A signed-in ops user.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: String,
    pub csrf: String,
}

impl Session {
    /// The audit-trail actor, the same as for the principal's API key.
    pub fn actor(&self) -> String {
        cartwright_shared::status::actor::api_key(&self.principal)
    }

    /// Whether a submitted form carries this session's token.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        tokens_match(&self.csrf, submitted)
    }
}

pub fn tokens_match(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => bool::from(expected.as_bytes().ct_eq(s.as_bytes())),
        _ => false,
    }
}

fn hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether the console's cookies are `Secure`: always, unless the deployment said it is
/// reached over plain HTTP (`CONSOLE_PLAIN_HTTP`, for local development) and this
/// request did not come through an HTTPS proxy either.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    !state.config.placement.console_plain_http
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for the console: HttpOnly, SameSite=Strict, Path=/ops, and `Secure`.
pub fn set_cookie(secure: bool, name: &str, value: &str, max_age_secs: u64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/ops; Max-Age={max_age_secs}{secure}")
}

/// Checks an ops key and opens a session; `None` for a wrong, revoked or non-ops key.
pub async fn sign_in(
    pool: &PgPool,
    key: &str,
    ttl: std::time::Duration,
) -> sqlx::Result<Option<(String, Session)>> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 {
        return Ok(None);
    }
    let Some(principal) = api_keys::authenticate(pool, key).await? else {
        return Ok(None);
    };
    if principal.role != Role::Ops {
        return Ok(None);
    }
    let id = new_secret(43);
    let csrf = new_secret(32);
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, key_id, principal, csrf_token, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(hash(&id))
    .bind(principal.key_id)
    .bind(&principal.name)
    .bind(&csrf)
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    // Sessions that ran out go whenever someone signs in.
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    Ok(Some((
        id,
        Session {
            principal: principal.name,
            csrf,
        },
    )))
}

pub async fn sign_out(pool: &PgPool, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(hash(id))
        .execute(pool)
        .await?;
    Ok(())
}

/// The session of a request; its key must still be valid (revoking the key ends it).
pub async fn lookup(pool: &PgPool, headers: &HeaderMap) -> sqlx::Result<Option<Session>> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT s.principal, s.csrf_token FROM console_sessions s
         JOIN api_keys k ON k.id = s.key_id
         WHERE s.id_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL AND k.role = 'ops'",
    )
    .bind(hash(&id))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(principal, csrf)| Session { principal, csrf }))
}

/// Pages behind sign-in take this: without a session they redirect to the sign-in page.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match lookup(&state.pool, &parts.headers).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(Redirect::to("/ops/sign-in").into_response()),
            Err(err) => {
                tracing::warn!(error = %err, "console: session lookup failed");
                Err(super::error_page(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "The database cannot be reached right now; try again shortly.",
                ))
            }
        }
    }
}
