//! Injected faults: error responses (before or after the state change) and delays,
//! optionally limited to a method and a path prefix.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 `api_error` before anything changes (a retry executes normally).
    ServerError,
    /// 429 `rate_limit` before anything changes.
    RateLimit,
    /// The request executes (and its response is saved for idempotent replay),
    /// but the client is answered 500: "Stripe did it but the answer was lost".
    LostResponse,
}

impl FaultKind {
    fn before_execution(self) -> bool {
        !matches!(self, Self::LostResponse)
    }
}

/// When a fault is looked up: before the handler runs, or on its successful response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

/// A rule answering the next `count` matching requests with `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path starts with this (e.g. `/v1/payment_intents`).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests with this method (e.g. `POST`).
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u32 {
    1
}

/// A fixed delay added before matching requests are handled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DelayRule {
    pub millis: u64,
    #[serde(default)]
    pub path_prefix: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
    pub delays: Vec<DelayRule>,
}

fn matches_prefix(prefix: Option<&String>, path: &str) -> bool {
    prefix.is_none_or(|p| path.starts_with(p.as_str()))
}

impl Faults {
    /// Consumes one use of the first rule of this phase that matches the request.
    pub fn take(&mut self, phase: Phase, method: &str, path: &str) -> Option<FaultKind> {
        let index = self.rules.iter().position(|rule| {
            rule.count > 0
                && rule.kind.before_execution() == (phase == Phase::Before)
                && matches_prefix(rule.path_prefix.as_ref(), path)
                && rule
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let rule = &mut self.rules[index];
        let kind = rule.kind;
        rule.count -= 1;
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(kind)
    }

    /// The longest delay configured for this path.
    pub fn delay(&self, path: &str) -> Duration {
        let millis = self
            .delays
            .iter()
            .filter(|d| matches_prefix(d.path_prefix.as_ref(), path))
            .map(|d| d.millis)
            .max()
            .unwrap_or(0);
        Duration::from_millis(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: FaultKind, count: u32, prefix: Option<&str>) -> FaultRule {
        FaultRule {
            kind,
            count,
            path_prefix: prefix.map(str::to_owned),
            method: Some("POST".into()),
        }
    }

    #[test]
    fn rules_are_consumed_per_phase_and_prefix() {
        let mut faults = Faults::default();
        faults
            .rules
            .push(rule(FaultKind::ServerError, 2, Some("/v1/payment_intents")));
        faults.rules.push(rule(FaultKind::LostResponse, 1, None));
        assert_eq!(
            faults.take(Phase::Before, "GET", "/v1/payment_intents"),
            None
        );
        assert_eq!(faults.take(Phase::Before, "POST", "/v1/refunds"), None);
        assert_eq!(
            faults.take(Phase::Before, "POST", "/v1/payment_intents"),
            Some(FaultKind::ServerError)
        );
        assert_eq!(
            faults.take(Phase::Before, "post", "/v1/payment_intents/pi_1"),
            Some(FaultKind::ServerError)
        );
        assert_eq!(
            faults.take(Phase::Before, "POST", "/v1/payment_intents"),
            None
        );
        assert_eq!(
            faults.take(Phase::After, "POST", "/v1/refunds"),
            Some(FaultKind::LostResponse)
        );
        assert!(faults.rules.is_empty());
    }

    #[test]
    fn longest_matching_delay_wins() {
        let mut faults = Faults::default();
        faults.delays.push(DelayRule {
            millis: 10,
            path_prefix: None,
        });
        faults.delays.push(DelayRule {
            millis: 50,
            path_prefix: Some("/v1/refunds".into()),
        });
        assert_eq!(faults.delay("/v1/refunds"), Duration::from_millis(50));
        assert_eq!(faults.delay("/v1/events"), Duration::from_millis(10));
    }
}
