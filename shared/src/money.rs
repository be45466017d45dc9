//! Money is an integer count of minor units (cents) in a currency; it is rendered as a
//! decimal string with the currency's two places ("268.46"). Floats never touch it.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

/// The ISO 4217 currencies Cartwright accepts. All have two minor-unit digits, which is
/// what every amount column assumes; a zero- or three-decimal currency would need the
/// exponent carried with the amount before it could be added here.
const SUPPORTED: &[&str] = &["aud", "cad", "chf", "eur", "gbp", "nzd", "usd"];

/// A lower-case ISO 4217 code that Cartwright supports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.to_ascii_lowercase();
        if SUPPORTED.contains(&code.as_str()) {
            Ok(Self(code))
        } else {
            Err(format!(
                "currency {raw:?} is not supported (one of {})",
                SUPPORTED.join(", ")
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in minor units. Serialises as a two-place decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Minor(pub i64);

impl Minor {
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Parses a plain decimal with at most two places ("12", "12.5", "12.50") into
    /// minor units. Nothing else: no sign, exponent, separators or spaces.
    pub fn parse_decimal(raw: &str) -> Result<Self, String> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        let well_formed = !whole.is_empty()
            && whole.len() <= 15
            && digits(whole)
            && digits(fraction)
            && (!raw.contains('.') || (1..=2).contains(&fraction.len()));
        if !well_formed {
            return Err(format!(
                "{raw:?} is not an amount like \"12.50\" (digits, at most two decimal places)"
            ));
        }
        let value: Decimal = raw
            .parse()
            .map_err(|_| format!("{raw:?} is not an amount"))?;
        i64::try_from(value * Decimal::ONE_HUNDRED)
            .map(Self)
            .map_err(|_| format!("{raw:?} is too large"))
    }
}

impl Minor {
    /// For people: the currency's symbol and two places, e.g. "$405.68" for usd,
    /// "€12.00" for eur, "CHF 7.50" for chf.
    pub fn for_display(self, currency: &str) -> String {
        let symbol = match currency.to_ascii_lowercase().as_str() {
            "usd" => "$",
            "eur" => "€",
            "gbp" => "£",
            "cad" => "CA$",
            "aud" => "A$",
            "nzd" => "NZ$",
            "chf" => "CHF ",
            other => return format!("{self} {}", other.to_ascii_uppercase()),
        };
        if self.0 < 0 {
            format!("-{symbol}{}", Minor(-self.0))
        } else {
            format!("{symbol}{self}")
        }
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl Serialize for Minor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An amount too large for a 64-bit count of minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amount is too large")]
pub struct Overflow;

impl Minor {
    /// `self + rhs`, or [`Overflow`]: a wrapped sum would be a wrong charge.
    pub fn checked_add(self, rhs: Self) -> Result<Self, Overflow> {
        self.0.checked_add(rhs.0).map(Self).ok_or(Overflow)
    }

    /// `self × quantity`, or [`Overflow`].
    pub fn checked_times(self, quantity: i32) -> Result<Self, Overflow> {
        self.0
            .checked_mul(i64::from(quantity))
            .map(Self)
            .ok_or(Overflow)
    }

    /// The sum of `amounts`, or [`Overflow`].
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Result<Self, Overflow> {
        amounts
            .into_iter()
            .try_fold(Self(0), |sum, amount| sum.checked_add(amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_two_places() {
        assert_eq!(Minor(26846).to_string(), "268.46");
        assert_eq!(Minor(0).to_string(), "0.00");
        assert_eq!(Minor(5).to_string(), "0.05");
        assert_eq!(serde_json::to_string(&Minor(1200)).unwrap(), "\"12.00\"");
    }

    #[test]
    fn displays_with_the_currency() {
        assert_eq!(Minor(40568).for_display("usd"), "$405.68");
        assert_eq!(Minor(1200).for_display("eur"), "€12.00");
        assert_eq!(Minor(750).for_display("chf"), "CHF 7.50");
        assert_eq!(Minor(-5).for_display("gbp"), "-£0.05");
    }

    #[test]
    fn parses_decimal_strings() {
        assert_eq!(Minor::parse_decimal("12.5"), Ok(Minor(1250)));
        assert_eq!(Minor::parse_decimal("12.50"), Ok(Minor(1250)));
        assert_eq!(Minor::parse_decimal("7"), Ok(Minor(700)));
        assert_eq!(Minor::parse_decimal("0.05"), Ok(Minor(5)));
        for bad in [
            "12.345", "12.500", "-1", "+5", "abc", "1e2", "1_000", ".5", "5.", " 5", "1,00", "",
        ] {
            assert!(Minor::parse_decimal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sums_and_products_that_overflow_are_errors() {
        assert_eq!(Minor(2).checked_add(Minor(3)), Ok(Minor(5)));
        assert_eq!(Minor(i64::MAX).checked_add(Minor(1)), Err(Overflow));
        assert_eq!(Minor(250).checked_times(3), Ok(Minor(750)));
        assert_eq!(Minor(i64::MAX / 2).checked_times(3), Err(Overflow));
        assert_eq!(Minor::checked_sum([Minor(1), Minor(2)]), Ok(Minor(3)));
        assert_eq!(
            Minor::checked_sum([Minor(i64::MAX), Minor(1)]),
            Err(Overflow)
        );
    }

    #[test]
    fn currencies_are_checked() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "usd");
        assert!(Currency::parse("jpy").is_err());
        assert!(Currency::parse("dollars").is_err());
    }
}
