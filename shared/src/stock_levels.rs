//! Low-stock detection, shared by every change that moves a SKU's available stock
//! (intake reservations, ops stock changes, settlement). Called inside the caller's
//! transaction: it writes a `stock.low` event through the outbox for each SKU at or
//! under its threshold that has no open alert at that level yet, and resolves the open
//! alerts of each SKU that is back above its threshold. The alert worker opens at most
//! one alert per (sku, level) (a unique index), so an extra event is harmless.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// The event type (docs/events.md).
pub const STOCK_LOW: &str = "stock.low";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Available at or under the threshold, but not zero.
    Low,
    /// Nothing available.
    Out,
}

impl Level {
    /// The level of a SKU with `available` units and this threshold; None when it is
    /// above the threshold.
    pub fn of(available: i64, threshold: i64) -> Option<Self> {
        if available <= 0 {
            Some(Self::Out)
        } else if available <= threshold {
            Some(Self::Low)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Out => "out",
        }
    }
}

/// The `stock.low` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLow {
    pub sku: String,
    pub level: Level,
    pub available: i64,
    pub threshold: i64,
}

/// Checks `skus` after a stock change in the caller's transaction `tx`; returns the
/// `stock.low` events it wrote. The rule lives in one place, the SQL function
/// `check_stock_levels` (migration 0008), because intake runs it inside its own
/// one-statement submission too. It locks the SKU rows (in SKU order, like intake), so
/// it serialises with the alert worker and with other stock changes.
pub async fn check(tx: &mut PgConnection, skus: &[String]) -> sqlx::Result<Vec<StockLow>> {
    let written: Vec<sqlx::types::Json<StockLow>> =
        sqlx::query_scalar("SELECT check_stock_levels($1, $2)")
            .bind(skus)
            .bind(STOCK_LOW)
            .fetch_all(&mut *tx)
            .await?;
    Ok(written.into_iter().map(|event| event.0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(Level::of(0, 0), Some(Level::Out));
        assert_eq!(Level::of(0, 5), Some(Level::Out));
        assert_eq!(Level::of(1, 5), Some(Level::Low));
        assert_eq!(Level::of(5, 5), Some(Level::Low));
        assert_eq!(Level::of(6, 5), None);
        assert_eq!(Level::of(3, 0), None);
        assert_eq!(
            serde_json::to_value(Level::Out).unwrap(),
            serde_json::json!("out")
        );
    }
}
