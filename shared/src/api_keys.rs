//! API keys: 256-bit random secrets shown once at creation; only their SHA-256 is kept.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ids::new_secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A web shop's backend: submits and reads its own checkouts.
    Storefront,
    /// The ops team: catalog, stores, the manual queue, dead letters.
    Ops,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Storefront => "storefront",
            Role::Ops => "ops",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "storefront" => Some(Role::Storefront),
            "ops" => Some(Role::Ops),
            _ => None,
        }
    }
}

/// Who a request comes from, once its key has been checked.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: Uuid,
    pub name: String,
    pub role: Role,
}

pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates a key and returns it in the clear: the only time it is ever seen.
pub async fn create(pool: &PgPool, principal: &str, role: Role) -> sqlx::Result<String> {
    let prefix = match role {
        Role::Storefront => "cw_sf_",
        Role::Ops => "cw_ops_",
    };
    // 43 base62 characters carry 256 bits.
    let key = format!("{prefix}{}", new_secret(43));
    sqlx::query(
        "INSERT INTO api_keys (id, principal, role, key_hash, key_prefix) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(principal)
    .bind(role.as_str())
    .bind(hash_key(&key))
    .bind(&key[..prefix.len() + 4])
    .execute(pool)
    .await?;
    Ok(key)
}

/// Looks a presented key up by its hash; revoked and unknown keys are `None` alike.
pub async fn authenticate(pool: &PgPool, presented: &str) -> sqlx::Result<Option<Principal>> {
    find(pool, &hash_key(presented)).await
}

/// The principal of the unrevoked key with this SHA-256, if any. Notes the key's use
/// when the last note is over a minute old: a write a minute per key at most, however
/// many requests it makes.
pub async fn find(pool: &PgPool, key_hash: &[u8]) -> sqlx::Result<Option<Principal>> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "WITH key AS (
             SELECT id, principal, role, last_used_at FROM api_keys
             WHERE key_hash = $1 AND revoked_at IS NULL
         ), used AS (
             UPDATE api_keys k SET last_used_at = now() FROM key
             WHERE k.id = key.id
               AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
         )
         SELECT id, principal, role FROM key",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(key_id, name, role)| {
        Role::parse(&role).map(|role| Principal { key_id, name, role })
    }))
}

/// A key as ops see it: never the key, nor its hash.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct KeyListing {
    pub id: Uuid,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub principal: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// To the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every key, or one principal's, oldest first.
pub async fn list(pool: &PgPool, principal: Option<&str>) -> sqlx::Result<Vec<KeyListing>> {
    sqlx::query_as(
        "SELECT id, key_prefix AS prefix, principal, role, created_at, last_used_at, revoked_at
         FROM api_keys WHERE $1::TEXT IS NULL OR principal = $1 ORDER BY created_at, id",
    )
    .bind(principal)
    .fetch_all(pool)
    .await
}

/// What revoking a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already(DateTime<Utc>),
    NoSuchKey,
}

/// Revokes a key (the API stops taking it within its key cache's few seconds) and writes
/// the `api_key.revoked` audit row in the same transaction.
pub async fn revoke(pool: &PgPool, id: Uuid, actor: &str) -> sqlx::Result<Revoked> {
    let mut tx = pool.begin().await?;
    let found: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT principal, revoked_at FROM api_keys WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((principal, revoked_at)) = found else {
        return Ok(Revoked::NoSuchKey);
    };
    if let Some(at) = revoked_at {
        return Ok(Revoked::Already(at));
    }
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ops_audit (actor, action, target, detail)
         VALUES ($1, 'api_key.revoked', 'api_key:' || $2::TEXT, jsonb_build_object('principal', $3::TEXT))",
    )
    .bind(actor)
    .bind(id)
    .bind(&principal)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Revoked::Now)
}
