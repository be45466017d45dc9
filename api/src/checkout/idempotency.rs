//! Idempotent intake. `submit_checkouts` (migration 0023) takes a transaction-scoped
//! advisory lock on (principal, key), so two requests with one key cannot both proceed
//! (the loser gets 409 at once rather than waiting), then looks up a stored answer. The
//! answer is stored in the same transaction as the checkout, so it exists exactly when
//! the checkout does: no in-progress rows to expire, nothing half-written on a crash.
//! Here: the header and the request's hash.

use axum::http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";
pub const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header: required, 1-255 printable ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<String, ApiError> {
    const FIELD: &str = "Idempotency-Key";
    let value = headers
        .get(HEADER)
        .ok_or_else(|| ApiError::missing(FIELD))?;
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid(
                FIELD,
                format!(
                    "{FIELD} must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces"
                ),
            )
        })?;
    Ok(key.to_owned())
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
