//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` where each
//! `v1` is HMAC-SHA256 of `"{t}.{raw body}"` under an endpoint secret. Checked on the raw
//! bytes, against every configured secret (rotation), in constant time, and refused when
//! the timestamp is further than the tolerance from now (replays).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's own default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    #[error("no Stripe-Signature signature matches")]
    Mismatch,
}

/// Verifies `header` for `body` at `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => {
                signatures.push(hex::decode(sig).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let matches = secrets.iter().any(|secret| {
        let expected = sign(secret.expose_secret(), timestamp, body);
        signatures
            .iter()
            .any(|sig| bool::from(sig.as_slice().ct_eq(expected.as_slice())))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `v1` signature bytes of `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str, t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", hex::encode(sign(secret, t, body)))
    }

    #[test]
    fn accepts_any_configured_secret() {
        let secrets = [
            SecretString::from("whsec_new"),
            SecretString::from("whsec_old"),
        ];
        let h = header("whsec_old", 1000, b"{}");
        assert_eq!(verify(Some(&h), b"{}", &secrets, 1100), Ok(()));
    }

    #[test]
    fn refuses_forged_stale_missing_and_malformed() {
        let secrets = [SecretString::from("whsec_a")];
        let forged = header("whsec_b", 1000, b"{}");
        assert_eq!(
            verify(Some(&forged), b"{}", &secrets, 1000),
            Err(SignatureError::Mismatch)
        );
        let good = header("whsec_a", 1000, b"{}");
        assert_eq!(
            verify(Some(&good), b"{ }", &secrets, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&good), b"{}", &secrets, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, b"{}", &secrets, 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("t=1000"), b"{}", &secrets, 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("v1=zz"), b"{}", &secrets, 1000),
            Err(SignatureError::Malformed)
        );
    }
}
