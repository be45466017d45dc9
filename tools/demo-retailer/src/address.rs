//! The shipping address both checkouts collect (under different field names).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: String,
    pub country: String,
}

/// The address fields as typed, kept for re-displaying the form after an error.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl AddressInput {
    /// The address, or one message per missing required field.
    pub fn validate(&self) -> Result<Address, Vec<String>> {
        let mut errors = Vec::new();
        let mut required = |value: &str, label: &str| {
            optional(value).unwrap_or_else(|| {
                errors.push(format!("{label} is required."));
                String::new()
            })
        };
        let address = Address {
            name: required(&self.name, "Full name"),
            line1: required(&self.line1, "Address line 1"),
            line2: optional(&self.line2),
            city: required(&self.city, "City"),
            state: optional(&self.state),
            postal_code: required(&self.postal_code, "Postal code"),
            country: required(&self.country, "Country"),
        };
        if errors.is_empty() {
            Ok(address)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_optional_fields_and_names_missing_ones() {
        let input = AddressInput {
            name: " Ada Lovelace ".into(),
            line1: "1 Main St".into(),
            line2: "  ".into(),
            city: "Portland".into(),
            state: "OR".into(),
            postal_code: "97201".into(),
            country: "US".into(),
        };
        let address = input.validate().unwrap();
        assert_eq!(address.name, "Ada Lovelace");
        assert_eq!(address.line2, None);
        assert_eq!(address.state.as_deref(), Some("OR"));

        let errors = AddressInput {
            city: "x".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(errors.len(), 4);
        assert_eq!(errors[0], "Full name is required.");
    }
}
