//! API keys: 256-bit random secrets shown once at creation; only their SHA-256 is kept.

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

/// The principal of the unrevoked key with this SHA-256, if any.
pub async fn find(pool: &PgPool, key_hash: &[u8]) -> sqlx::Result<Option<Principal>> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, principal, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(key_id, name, role)| {
        Role::parse(&role).map(|role| Principal { key_id, name, role })
    }))
}
