//! Field rules shared by every endpoint: bounded text without control characters,
//! e-mail addresses, phone numbers, country codes. Each failure names its field.

use cartwright_shared::{country, text};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::first_char;

pub const MAX_TEXT: usize = 200;

/// The longest customer reference: room for any storefront's ids (UUIDs, prefixed ids),
/// short enough to index.
pub const MAX_CUSTOMER_REFERENCE: usize = 128;

/// A required string of 1..=200 characters, trimmed, without control characters.
pub fn required_text(field: &str, value: Option<String>) -> Result<String, ApiError> {
    optional_text(field, value)?.ok_or_else(|| ApiError::missing(field))
}

/// Like [`required_text`], but absent, null and blank are all `None`.
pub fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} contains a control character"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Every string of a checkout body is the customer's, and the address is typed into
/// retailers' forms: private-use and format characters are refused wherever they are
/// (`cartwright_shared::text` says why), naming the field. Ops text is not held to this:
/// none of it is typed into a retailer's form.
pub fn refuse_hidden_or_private(json: &Value) -> Result<(), ApiError> {
    match first_char(json, text::is_hidden_or_private) {
        None => Ok(()),
        Some((field, c)) => Err(ApiError::invalid(
            field.clone(),
            format!(
                "{field} contains U+{:04X}, a private-use or invisible formatting character",
                c as u32
            ),
        )),
    }
}

/// A storefront's own id for its customer (`customer.reference` in a checkout, and the
/// `customer` parameter of the order listing, so both read it alike): trimmed, 1 to
/// [`MAX_CUSTOMER_REFERENCE`] characters, no control, private-use or formatting
/// characters. Unlike other text, blank is refused rather than taken as absent: a
/// reference that is sent empty is a storefront's bug, and would file the order under
/// nobody. The error is the message; the caller knows the field and the status.
pub fn customer_reference(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the customer reference must not be blank".into());
    }
    if value.chars().count() > MAX_CUSTOMER_REFERENCE {
        return Err(format!(
            "the customer reference is longer than {MAX_CUSTOMER_REFERENCE} characters"
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() || text::is_hidden_or_private(c))
    {
        return Err(
            "the customer reference contains a control, private-use or formatting character".into(),
        );
    }
    Ok(value.to_owned())
}

pub fn email(field: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = required_text(field, value)?;
    let bad = || ApiError::invalid(field, format!("{field} is not an e-mail address"));
    let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if local.is_empty() || local.len() > 64 || local.contains(char::is_whitespace) || !domain_ok {
        return Err(bad());
    }
    Ok(value)
}

/// E.164: a plus, then 7 to 15 digits, the first not zero.
pub fn phone(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(value) = optional_text(field, value)? else {
        return Ok(None);
    };
    let digits = value.strip_prefix('+').unwrap_or("");
    let ok = (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(Some(value))
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be in E.164 form, e.g. +14155550100"),
        ))
    }
}

/// An ISO 3166-1 alpha-2 code, returned upper-case.
pub fn country_code(field: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = required_text(field, value)?.to_ascii_uppercase();
    if country::is_iso_alpha2(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} {value:?} is not an ISO 3166-1 alpha-2 country code"),
        ))
    }
}

/// At most this many options per SKU.
pub const MAX_OPTIONS: usize = 16;
/// The longest option name (`size`, `colour`, `fit_type`).
pub const MAX_OPTION_NAME: usize = 32;
/// The longest option value (`M`, `Navy blue`, `EU 42 / UK 8`).
pub const MAX_OPTION_VALUE: usize = 100;

/// A SKU's `options`: a JSON object of at most [`MAX_OPTIONS`] names, each matching
/// `[a-z_][a-z0-9_]*` (at most [`MAX_OPTION_NAME`] characters, so a recipe can write
/// `{option.size}`), to a string value of 1 to [`MAX_OPTION_VALUE`] characters, trimmed,
/// without control, private-use or formatting characters (a recipe selects or types
/// it on a retailer's page). `{}` means no options. Each failure names its field,
/// `options.<name>` for a value.
pub fn sku_options(value: &Value) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            "options",
            "options must be an object of option names to text, e.g. {\"size\": \"M\"}",
        ));
    };
    if map.len() > MAX_OPTIONS {
        return Err(ApiError::invalid(
            "options",
            format!("options has {} names; at most {MAX_OPTIONS}", map.len()),
        ));
    }
    let mut options = std::collections::BTreeMap::new();
    for (name, value) in map {
        let good_name = (1..=MAX_OPTION_NAME).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !good_name {
            return Err(ApiError::invalid(
                "options",
                format!(
                    "option name {name:?} must be 1-{MAX_OPTION_NAME} lower-case letters, digits or underscores, not starting with a digit"
                ),
            ));
        }
        let field = format!("options.{name}");
        let Value::String(text) = value else {
            return Err(ApiError::invalid(
                field.clone(),
                format!("{field} must be text"),
            ));
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::invalid(
                field.clone(),
                format!("{field} is empty; leave the option out instead"),
            ));
        }
        if text.chars().count() > MAX_OPTION_VALUE {
            return Err(ApiError::invalid(
                field.clone(),
                format!("{field} is longer than {MAX_OPTION_VALUE} characters"),
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() || text::is_hidden_or_private(*c))
        {
            return Err(ApiError::invalid(
                field.clone(),
                format!(
                    "{field} contains U+{:04X}, a control, private-use or invisible formatting character",
                    c as u32
                ),
            ));
        }
        options.insert(name.clone(), text.to_owned());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn text_rules() {
        assert_eq!(required_text("f", s("  a  ")).unwrap(), "a");
        assert!(required_text("f", s("   ")).is_err());
        assert!(required_text("f", None).is_err());
        assert!(required_text("f", s("a\u{7}b")).is_err());
        assert!(required_text("f", s("a\nb")).is_err());
        assert!(required_text("f", Some("é".repeat(200))).is_ok());
        assert!(required_text("f", Some("é".repeat(201))).is_err());
    }

    #[test]
    fn customer_references() {
        assert_eq!(customer_reference(" cus_42 ").unwrap(), "cus_42");
        assert!(customer_reference("x".repeat(128).as_str()).is_ok());
        for bad in ["", "   ", "a\tb", "a\u{200B}b", "a\u{E007}"] {
            assert!(customer_reference(bad).is_err(), "{bad:?}");
        }
        assert!(customer_reference("x".repeat(129).as_str()).is_err());
    }

    #[test]
    fn emails() {
        assert!(email("e", s("jane@example.com")).is_ok());
        for bad in [
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "jane@ex..com",
        ] {
            assert!(email("e", s(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_and_countries() {
        assert!(phone("p", s("+14155550100")).is_ok());
        assert!(phone("p", None).unwrap().is_none());
        assert!(phone("p", s("4155550100")).is_err());
        assert!(phone("p", s("+1415555010O")).is_err());
        assert_eq!(country_code("c", s("us")).unwrap(), "US");
        assert!(country_code("c", s("XX")).is_err());
        assert!(country_code("c", s("USA")).is_err());
    }
}
