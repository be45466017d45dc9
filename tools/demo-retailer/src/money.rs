//! Money is integer cents everywhere; these are the only conversions.

/// `8999` → `"89.99"`.
pub fn format(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The `price_change` scenario's price: 15 % more, rounded half up to the cent.
pub fn raised(cents: i64) -> i64 {
    (cents * 115 + 50) / 100
}

/// The `surcharge` scenario's extra charge: 10 % of the total, rounded half up to the cent.
pub fn surcharge(cents: i64) -> i64 {
    (cents * 10 + 50) / 100
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_and_raises() {
        assert_eq!(super::format(8999), "89.99");
        assert_eq!(super::format(5), "0.05");
        assert_eq!(super::format(-1250), "-12.50");
        assert_eq!(super::raised(8999), 10349);
        assert_eq!(super::raised(21900), 25185);
        assert_eq!(super::surcharge(8598), 860);
        assert_eq!(super::surcharge(5), 1);
    }
}
