//! Reading an amount of money as shops show it ("$1,234.56", "1.234,56 €", "USD 12.00",
//! "£9", "¥1,200") into minor units of the order's currency. Text that could mean two
//! amounts is refused, never guessed: before the final click that hands the order to a
//! person as `page_changed`, after it as `needs_verification`.

/// Minor-unit digits (ISO 4217) of the currencies shops' text may name. Cartwright's own
/// currencies all have two; the others are here so their signs and codes are known.
const EXPONENTS: &[(&str, u32)] = &[
    ("aud", 2),
    ("bhd", 3),
    ("brl", 2),
    ("cad", 2),
    ("chf", 2),
    ("clp", 0),
    ("cny", 2),
    ("czk", 2),
    ("dkk", 2),
    ("eur", 2),
    ("gbp", 2),
    ("hkd", 2),
    ("huf", 2),
    ("inr", 2),
    ("isk", 0),
    ("jpy", 0),
    ("krw", 0),
    ("kwd", 3),
    ("mxn", 2),
    ("nok", 2),
    ("nzd", 2),
    ("pln", 2),
    ("sek", 2),
    ("sgd", 2),
    ("usd", 2),
    ("vnd", 0),
];

/// Signs shops write, and every currency each may mean: a bare `$` is fine for an order
/// in US, Canadian or Australian dollars, `€` is not.
const SIGNS: &[(&str, &[&str])] = &[
    ("$", &["usd", "cad", "aud", "nzd", "sgd", "hkd", "mxn"]),
    ("US$", &["usd"]),
    ("C$", &["cad"]),
    ("CA$", &["cad"]),
    ("A$", &["aud"]),
    ("AU$", &["aud"]),
    ("NZ$", &["nzd"]),
    ("S$", &["sgd"]),
    ("HK$", &["hkd"]),
    ("MX$", &["mxn"]),
    ("R$", &["brl"]),
    ("€", &["eur"]),
    ("£", &["gbp"]),
    ("¥", &["jpy", "cny"]),
    ("￥", &["jpy", "cny"]),
    ("円", &["jpy"]),
    ("元", &["cny"]),
    ("₩", &["krw"]),
    ("₹", &["inr"]),
    ("Fr.", &["chf"]),
    ("Fr", &["chf"]),
    ("kr", &["sek", "nok", "dkk", "isk"]),
    ("kr.", &["sek", "nok", "dkk", "isk"]),
    ("zł", &["pln"]),
    ("Kč", &["czk"]),
    ("Ft", &["huf"]),
];

/// Characters that make a word a currency sign; one the table above does not know is
/// refused rather than taken for the order's currency.
const SIGN_CHARS: &[char] = &[
    '$', '€', '£', '¥', '￥', '₩', '₹', '₽', '₺', '₪', '₫', '₱', '₦', '฿', '₴', '¢', '円', '元',
];

/// Separators that only ever group thousands ("1 234,56", "CHF 1'234.50").
const GROUPING_ONLY: &[char] = &[' ', '\'', '’'];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("no amount in {0:?}")]
    NoAmount(String),
    #[error("several amounts in {0:?}")]
    SeveralAmounts(String),
    #[error("{0:?} reads two ways: {1:?} may separate decimals or thousands")]
    Ambiguous(String, char),
    #[error("{0:?} is not an amount of {1}")]
    Malformed(String, String),
    #[error("{text:?} names another currency ({sign}) than the order's {currency}")]
    OtherCurrency {
        text: String,
        sign: String,
        currency: String,
    },
    #[error("{0:?} is negative")]
    Negative(String),
}

/// The amount `text` shows, in minor units of `currency` (lower-case ISO code). The text
/// must hold exactly one amount; a sign or code in it must fit `currency`; text without
/// one is taken to be in `currency` (the shop's own).
pub fn parse(text: &str, currency: &str) -> Result<i64, Unreadable> {
    let text: String = text
        .trim()
        .chars()
        .map(|c| match c {
            // No-break, narrow no-break and thin spaces group thousands in many locales.
            '\u{a0}' | '\u{202f}' | '\u{2009}' => ' ',
            c => c,
        })
        .collect();
    let runs = number_runs(&text);
    let (start, end) = match runs.as_slice() {
        [] => return Err(Unreadable::NoAmount(text)),
        [one] => *one,
        _ => return Err(Unreadable::SeveralAmounts(text)),
    };
    let (before, run, after) = (&text[..start], &text[start..end], &text[end..]);
    if is_negative(before) {
        return Err(Unreadable::Negative(text));
    }
    for word in before.split_whitespace().chain(after.split_whitespace()) {
        check_sign(word, &text, currency)?;
    }
    let exponent = EXPONENTS
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, e)| *e);
    amount(run, exponent).map_err(|e| e.into_error(&text, currency))
}

/// Byte ranges of the numbers in `text`: digits, joined by single separators that have a
/// digit on both sides.
fn number_runs(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut j = i + 1;
        loop {
            match chars.get(j) {
                Some((_, c)) if c.is_ascii_digit() => j += 1,
                Some((_, c))
                    if is_separator(*c)
                        && chars.get(j + 1).is_some_and(|(_, d)| d.is_ascii_digit()) =>
                {
                    j += 2
                }
                _ => break,
            }
        }
        let end = chars.get(j).map_or(text.len(), |(at, _)| *at);
        runs.push((start, end));
        i = j;
    }
    runs
}

fn is_separator(c: char) -> bool {
    c == '.' || c == ',' || GROUPING_ONLY.contains(&c)
}

/// A minus right before the number, or before the sign right before it ("-$5.00",
/// "$-5.00", "-5,00 €").
fn is_negative(before: &str) -> bool {
    let minus = |s: &str| s.ends_with('-') || s.ends_with('−');
    if minus(before) {
        return true;
    }
    let sign_start = before
        .rfind(|c: char| c.is_whitespace() || c == '-' || c == '−')
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    sign_start > 0 && minus(&before[..sign_start])
}

/// A word around the number: a currency sign or code must name the order's currency;
/// other words ("Total", "charged:") are left alone.
fn check_sign(word: &str, text: &str, currency: &str) -> Result<(), Unreadable> {
    let other = |sign: &str| Unreadable::OtherCurrency {
        text: text.to_owned(),
        sign: sign.to_owned(),
        currency: currency.to_owned(),
    };
    for part in word.split(|c: char| ":;,()[]*/=|".contains(c)) {
        let trimmed = part.trim_end_matches('.');
        let named = SIGNS
            .iter()
            .find(|(sign, _)| *sign == part || *sign == trimmed)
            .map(|(_, codes)| *codes);
        if let Some(codes) = named {
            if !codes.contains(&currency) {
                return Err(other(part));
            }
            continue;
        }
        let is_code = trimmed.len() == 3 && trimmed.chars().all(|c| c.is_ascii_uppercase());
        let lower = trimmed.to_ascii_lowercase();
        if is_code && EXPONENTS.iter().any(|(code, _)| *code == lower) {
            if lower != currency {
                return Err(other(trimmed));
            }
            continue;
        }
        if part.contains(SIGN_CHARS) {
            return Err(other(part));
        }
    }
    Ok(())
}

enum Fault {
    Ambiguous(char),
    Malformed,
}

impl Fault {
    fn into_error(self, text: &str, currency: &str) -> Unreadable {
        match self {
            Fault::Ambiguous(sep) => Unreadable::Ambiguous(text.to_owned(), sep),
            Fault::Malformed => Unreadable::Malformed(text.to_owned(), currency.to_owned()),
        }
    }
}

/// One number (digits and separators, as [`number_runs`] found it) in minor units.
fn amount(run: &str, exponent: u32) -> Result<i64, Fault> {
    let groups: Vec<&str> = run.split(is_separator).collect();
    let seps: Vec<char> = run.chars().filter(|c| is_separator(*c)).collect();
    let decimal = match seps.last() {
        None => None,
        Some(&last) if GROUPING_ONLY.contains(&last) => None,
        Some(&last) if seps.iter().filter(|c| **c == last).count() > 1 => None,
        Some(&last) if seps.len() == 1 => match (groups[1].len(), exponent) {
            // "¥1,200": a currency without minor units has no decimals to separate.
            (3, 0) => None,
            // "1,234" in dollars: one thousand two hundred or a typo'd 1.234?
            (3, _) => return Err(Fault::Ambiguous(last)),
            _ => Some(last),
        },
        Some(&last) => Some(last),
    };
    let (whole, fraction): (&[&str], &str) = match decimal {
        Some(_) => (&groups[..groups.len() - 1], groups[groups.len() - 1]),
        None => (&groups, ""),
    };
    let grouping = &seps[..whole.len() - 1];
    let well_grouped = whole.len() == 1
        || (grouping.iter().all(|c| *c == grouping[0])
            && Some(grouping[0]) != decimal
            && (1..=3).contains(&whole[0].len())
            && whole[1..].iter().all(|g| g.len() == 3));
    let digits = whole.iter().map(|g| g.len()).sum::<usize>() + exponent as usize;
    if !well_grouped || fraction.len() > exponent as usize || digits > 15 {
        return Err(Fault::Malformed);
    }
    let mut minor: i64 = 0;
    for d in whole.concat().bytes().chain(
        fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(exponent as usize),
    ) {
        minor = minor * 10 + i64::from(d - b'0');
    }
    Ok(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats seen on real shops' product pages and confirmations.
    #[test]
    fn reads_real_world_formats() {
        for (text, currency, minor) in [
            ("$24.99", "usd", 2499),
            ("$1,234.56", "usd", 123456),
            ("Total charged: $52.97", "usd", 5297),
            ("US$ 1,299.00", "usd", 129900),
            ("USD 12.00", "usd", 1200),
            ("USD 74.50", "usd", 7450),
            ("12.00 USD", "usd", 1200),
            ("(USD) 9.5", "usd", 950),
            ("$ 89", "usd", 8900),
            ("$1,234,567.89", "usd", 123456789),
            ("CA$1,234.50", "cad", 123450),
            ("$19.99", "cad", 1999),
            ("1.234,56 €", "eur", 123456),
            ("1.234,56\u{a0}€", "eur", 123456),
            ("€12,99", "eur", 1299),
            ("12,00 EUR", "eur", 1200),
            ("EUR 1.299,00", "eur", 129900),
            ("1 234,56 €", "eur", 123456),
            ("1\u{202f}234,56\u{a0}€", "eur", 123456),
            ("Preis: 49,90 €*", "eur", 4990),
            ("£9", "gbp", 900),
            ("£1,049.99", "gbp", 104999),
            ("GBP 9.00", "gbp", 900),
            ("CHF 1'234.50", "chf", 123450),
            ("Fr. 12.50", "chf", 1250),
            ("¥1,200", "jpy", 1200),
            ("¥12,345,678", "jpy", 12345678),
            ("1,200円", "jpy", 1200),
            ("JPY 980", "jpy", 980),
            ("₩12,000", "krw", 12000),
            ("KWD 1,250.500", "kwd", 1250500),
            ("1.234.567 kr.", "dkk", 123456700),
            ("89.99", "usd", 8999),
            ("  0.5 ", "usd", 50),
        ] {
            assert_eq!(parse(text, currency), Ok(minor), "{text:?} in {currency}");
        }
    }

    /// Text that could mean two amounts, or none, is refused, never guessed.
    #[test]
    fn refuses_what_it_would_have_to_guess() {
        let ambiguous = |text: &str, currency: &str, sep: char| {
            assert_eq!(
                parse(text, currency),
                Err(Unreadable::Ambiguous(text.to_owned(), sep)),
                "{text:?}"
            )
        };
        ambiguous("1,234", "usd", ',');
        ambiguous("$1,234", "usd", ',');
        ambiguous("1.234 €", "eur", '.');
        ambiguous("KWD 1,234", "kwd", ',');
        ambiguous("$12.345", "usd", '.');
        for text in [
            "Was $30.00 Now $24.99",
            "$52.97 (3 items)",
            "2 × $24.99",
            "$10.00 - $20.00",
        ] {
            assert_eq!(
                parse(text, "usd"),
                Err(Unreadable::SeveralAmounts(text.to_owned())),
                "{text:?}"
            );
        }
        for text in ["", "Free", "$", "Price on request", "—"] {
            assert_eq!(
                parse(text, "usd"),
                Err(Unreadable::NoAmount(text.trim().to_owned())),
                "{text:?}"
            );
        }
        for (text, currency) in [
            ("1,234.567", "usd"),
            ("12.345,678 €", "eur"),
            ("1.23.456", "usd"),
            ("12,34,56", "usd"),
            ("1,2345.00", "usd"),
            ("1 234.567,00", "eur"),
            ("1,000,00", "usd"),
            ("¥1,200.50", "jpy"),
            ("1234567890123456", "usd"),
        ] {
            assert!(
                matches!(parse(text, currency), Err(Unreadable::Malformed(..))),
                "{text:?}: {:?}",
                parse(text, currency)
            );
        }
        for text in ["-$5.00", "$-5.00", "-5.00", "−5,00 €"] {
            assert!(
                matches!(parse(text, "usd"), Err(Unreadable::Negative(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn another_currency_named_in_the_text_is_a_mismatch() {
        for (text, currency, sign) in [
            ("€24.99", "usd", "€"),
            ("24,99 EUR", "usd", "EUR"),
            ("¥1,200", "usd", "¥"),
            ("£9", "eur", "£"),
            ("$19.99", "eur", "$"),
            ("CA$19.99", "usd", "CA$"),
            ("US$19.99", "cad", "US$"),
            ("R$ 19,99", "usd", "R$"),
            ("₽1990", "usd", "₽"),
            ("Total: 19.99 GBP", "usd", "GBP"),
        ] {
            match parse(text, currency) {
                Err(Unreadable::OtherCurrency { sign: found, .. }) => {
                    assert_eq!(found, sign, "{text:?}")
                }
                other => panic!("{text:?} in {currency}: {other:?}"),
            }
        }
        // Words that only look like codes are words.
        assert_eq!(parse("NEW LOW PRICE 19.99", "usd"), Ok(1999));
    }
}
