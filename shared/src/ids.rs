//! Identifiers people read and say aloud: `chk_…` for checkouts, `MO-…` for store
//! orders. Random, so they reveal nothing about volume and need no sequence.

use rand::Rng;

/// Crockford base32: no I, L, O or U, so an order number read over the phone survives.
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// `chk_` and 24 base62 characters (about 143 bits).
pub fn new_checkout_id() -> String {
    format!("chk_{}", random_string(BASE62, 24))
}

/// `MO-` and 10 Crockford characters (50 bits): short enough to read to a retailer.
pub fn new_order_number() -> String {
    format!("MO-{}", random_string(CROCKFORD, 10))
}

/// A secret of `len` base62 characters.
pub fn new_secret(len: usize) -> String {
    random_string(BASE62, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = new_checkout_id();
        assert!(id.starts_with("chk_") && id.len() == 28);
        let number = new_order_number();
        assert!(number.starts_with("MO-") && number.len() == 13);
        assert!(!number[3..].contains(['I', 'L', 'O', 'U']));
        assert_ne!(new_checkout_id(), new_checkout_id());
    }
}
