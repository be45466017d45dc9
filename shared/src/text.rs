//! Characters that customer text must not carry into the systems it is passed on to.
//!
//! The browser worker types the shipping address into retailers' forms through WebDriver,
//! which reads U+E000–U+E05D in typed text as keys (Enter, Tab, Control…): a name holding
//! one could submit a form early, past the worker's never-twice gate. That block is part
//! of the private-use area (category Co), whose meaning is whatever the receiver makes of
//! it. Format characters (Cf: bidi overrides, zero-width characters) change what a person
//! reads without being seen. Intake refuses both; the browser worker strips them again.
//! Surrogates (Cs), the third category refused, cannot occur in a Rust `char`.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// A private-use (Co) or format (Cf) character.
pub fn is_hidden_or_private(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::PrivateUse | GeneralCategory::Format
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webdriver_keys_private_use_and_format_characters_are_caught() {
        for c in [
            '\u{E004}',   // WebDriver Tab
            '\u{E007}',   // WebDriver Enter
            '\u{E009}',   // WebDriver Control
            '\u{E05D}',   // the last WebDriver key
            '\u{F8FF}',   // the end of the BMP's private-use area
            '\u{F0000}',  // plane 15
            '\u{10FFFD}', // plane 16
            '\u{00AD}',   // soft hyphen
            '\u{200B}',   // zero-width space
            '\u{202E}',   // right-to-left override
            '\u{2066}',   // left-to-right isolate
            '\u{FEFF}',   // byte order mark
            '\u{E0041}',  // tag latin capital A
        ] {
            assert!(is_hidden_or_private(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn letters_marks_symbols_and_spaces_pass() {
        for c in "Jane O'Brien-Smith, 12 Rue de l'Église, Zürich 東京 Αθήνα 🦀 – № \u{0301}".chars()
        {
            assert!(!is_hidden_or_private(c), "U+{:04X}", c as u32);
        }
    }
}
