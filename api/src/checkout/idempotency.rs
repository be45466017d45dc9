//! Idempotent intake. Within the submitting transaction: a transaction-scoped advisory
//! lock on (principal, key) so two requests with one key cannot both proceed (the loser
//! gets 409 at once rather than waiting), then a look-up of a stored answer. The answer
//! is stored in the same transaction as the checkout, so it exists exactly when the
//! checkout does: no in-progress rows to expire, nothing half-written on a crash.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

pub const HEADER: &str = "idempotency-key";
pub const MAX_KEY_LEN: usize = 255;

pub struct Stored {
    pub request_hash: Vec<u8>,
    pub status: i16,
    pub body: Value,
}

/// `false` when another transaction holds the key right now.
pub async fn try_lock(tx: &mut PgConnection, principal: &str, key: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || E'\\x1f' || $2, 0))",
    )
    .bind(principal)
    .bind(key)
    .fetch_one(tx)
    .await
}

pub async fn find(
    tx: &mut PgConnection,
    principal: &str,
    key: &str,
) -> sqlx::Result<Option<Stored>> {
    let row: Option<(Vec<u8>, i16, Value)> = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys
         WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|(request_hash, status, body)| Stored {
        request_hash,
        status,
        body,
    }))
}

pub async fn save(
    tx: &mut PgConnection,
    principal: &str,
    key: &str,
    request_hash: &[u8],
    status: i16,
    body: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(principal)
    .bind(key)
    .bind(request_hash)
    .bind(status)
    .bind(body)
    .execute(tx)
    .await?;
    Ok(())
}

/// SHA-256 of the body with object keys sorted and insignificant white space removed,
/// so the same request formatted differently is still the same request.
pub fn request_hash(body: &Value) -> Vec<u8> {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    Sha256::digest(canonical.as_bytes()).to_vec()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "s"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"s","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&json!({"a": "s", "b": [1]})));
    }
}
