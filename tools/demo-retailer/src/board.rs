//! The scenarios switched on through the admin API, per SKU or for a whole store.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::catalog::Store;
use crate::scenario::{Scenario, Scenarios};

/// One switch: `sku: None` applies to every product of the store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Switch {
    pub store: Store,
    pub sku: Option<&'static str>,
    pub scenario: Scenario,
}

#[derive(Debug, Default)]
pub struct ScenarioBoard(BTreeSet<Switch>);

impl ScenarioBoard {
    pub fn set(&mut self, switch: Switch) {
        self.0.insert(switch);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn switches(&self) -> Vec<Switch> {
        self.0.iter().cloned().collect()
    }

    /// Every scenario switched on for this SKU, store-wide switches included.
    pub fn for_sku(&self, store: Store, sku: &str) -> Scenarios {
        self.0
            .iter()
            .filter(|s| s.store == store && s.sku.is_none_or(|k| k == sku))
            .map(|s| s.scenario)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_apply_per_sku_and_store_wide() {
        let mut board = ScenarioBoard::default();
        let switch = |sku, scenario| Switch {
            store: Store::Nordwind,
            sku,
            scenario,
        };
        board.set(switch(Some("NORD-1003"), Scenario::Captcha));
        board.set(switch(None, Scenario::Slow));
        board.set(switch(Some("NORD-1003"), Scenario::Captcha));
        assert_eq!(board.switches().len(), 2);
        assert_eq!(
            board.for_sku(Store::Nordwind, "NORD-1003").to_vec(),
            vec![Scenario::Captcha, Scenario::Slow]
        );
        assert_eq!(
            board.for_sku(Store::Nordwind, "NORD-1001").to_vec(),
            vec![Scenario::Slow]
        );
        assert!(
            board
                .for_sku(Store::Rackhouse, "RACK-2001")
                .to_vec()
                .is_empty()
        );
        board.clear();
        assert!(board.switches().is_empty());
    }
}
