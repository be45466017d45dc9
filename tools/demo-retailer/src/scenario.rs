//! The failure scenarios a test can force, and the set of them in effect for a page.

use std::collections::BTreeSet;
use std::fmt;

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Captcha,
    OutOfStock,
    PriceChange,
    Slow,
    ChangedLayout,
    ErrorAfterSubmit,
    SignInWall,
    Surcharge,
    SalePrice,
    TotalWithItemCount,
    ConsentBanner,
    ScriptRendered,
    FramedAddress,
    VariantIds,
}

impl Scenario {
    pub const ALL: [Scenario; 14] = [
        Scenario::Captcha,
        Scenario::OutOfStock,
        Scenario::PriceChange,
        Scenario::Slow,
        Scenario::ChangedLayout,
        Scenario::ErrorAfterSubmit,
        Scenario::SignInWall,
        Scenario::Surcharge,
        Scenario::SalePrice,
        Scenario::TotalWithItemCount,
        Scenario::ConsentBanner,
        Scenario::ScriptRendered,
        Scenario::FramedAddress,
        Scenario::VariantIds,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Captcha => "captcha",
            Scenario::OutOfStock => "out_of_stock",
            Scenario::PriceChange => "price_change",
            Scenario::Slow => "slow",
            Scenario::ChangedLayout => "changed_layout",
            Scenario::ErrorAfterSubmit => "error_after_submit",
            Scenario::SignInWall => "sign_in_wall",
            Scenario::Surcharge => "surcharge",
            Scenario::SalePrice => "sale_price",
            Scenario::TotalWithItemCount => "total_with_item_count",
            Scenario::ConsentBanner => "consent_banner",
            Scenario::ScriptRendered => "script_rendered",
            Scenario::FramedAddress => "framed_address",
            Scenario::VariantIds => "variant_ids",
        }
    }

    pub fn parse(name: &str) -> Result<Scenario, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownScenario(name.to_owned()))
    }
}

#[derive(Debug)]
pub struct UnknownScenario(String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<_> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
        write!(
            f,
            "unknown scenario {:?}; expected one of: {}",
            self.0,
            known.join(", ")
        )
    }
}

/// A scenario name from a form or query: empty or absent means none.
pub fn parse_optional(name: Option<&str>) -> Result<Option<Scenario>, UnknownScenario> {
    name.filter(|n| !n.is_empty())
        .map(Scenario::parse)
        .transpose()
}

impl IntoResponse for UnknownScenario {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

/// The scenarios in effect for one product line or one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scenarios(BTreeSet<Scenario>);

impl Scenarios {
    pub fn has(&self, scenario: Scenario) -> bool {
        self.0.contains(&scenario)
    }

    pub fn add(&mut self, scenario: Option<Scenario>) {
        self.0.extend(scenario);
    }

    pub fn merge(&mut self, other: &Scenarios) {
        self.0.extend(other.0.iter().copied());
    }

    pub fn to_vec(&self) -> Vec<Scenario> {
        self.0.iter().copied().collect()
    }
}

impl FromIterator<Scenario> for Scenarios {
    fn from_iter<I: IntoIterator<Item = Scenario>>(iter: I) -> Self {
        Scenarios(iter.into_iter().collect())
    }
}

/// The one-off `?scenario=` query parameter of a store page. An unknown name is a 400,
/// so a typo in a test fails loudly instead of silently testing the happy path.
#[derive(Debug, Clone, Copy)]
pub struct RequestScenario(pub Option<Scenario>);

#[derive(Deserialize)]
struct ScenarioQuery {
    scenario: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestScenario {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<ScenarioQuery>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_optional(query.scenario.as_deref())
            .map(RequestScenario)
            .map_err(|e| e.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_listed() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.as_str()).ok(), Some(s));
        }
        let err = Scenario::parse("captcah").unwrap_err().to_string();
        assert!(
            err.contains("captcah") && err.contains("sign_in_wall"),
            "{err}"
        );
    }

    #[test]
    fn sets_merge() {
        let mut a: Scenarios = [Scenario::Slow].into_iter().collect();
        a.add(Some(Scenario::Captcha));
        a.add(None);
        a.merge(
            &[Scenario::Slow, Scenario::PriceChange]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            a.to_vec(),
            vec![Scenario::Captcha, Scenario::PriceChange, Scenario::Slow]
        );
        assert!(a.has(Scenario::Captcha) && !a.has(Scenario::SignInWall));
    }
}
