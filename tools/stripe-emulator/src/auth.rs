//! API-key authentication: `Authorization: Bearer sk_test_…` (or Basic auth with the key as
//! the user name, as `curl -u sk_test_…:` sends); any test secret key is accepted.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

/// The secret key the request was made with.
pub fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    let key = match value.strip_prefix("Basic ") {
        Some(encoded) => basic_user(encoded).unwrap_or_default(),
        None => value
            .strip_prefix("Bearer ")
            .unwrap_or(value)
            .trim()
            .to_owned(),
    };
    if key.starts_with("sk_test_") && key.len() > "sk_test_".len() {
        Ok(key)
    } else {
        let start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        let tail = &key[start..];
        Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: {}****{tail}. The Stripe emulator accepts test secret keys (sk_test_…) only.",
            key.chars().take(8).collect::<String>()
        )))
    }
}

/// The user name of a Basic credential.
fn basic_user(encoded: &str) -> Option<String> {
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    decoded.split(':').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn accepts_test_keys_only() {
        assert_eq!(
            api_key(&headers("Bearer sk_test_abc")).unwrap(),
            "sk_test_abc"
        );
        assert_eq!(
            api_key(&headers("Bearer sk_live_abc")).unwrap_err().status,
            401
        );
        assert_eq!(
            api_key(&headers("Bearer sk_test_")).unwrap_err().status,
            401
        );
        assert_eq!(api_key(&HeaderMap::new()).unwrap_err().status, 401);
    }
}
