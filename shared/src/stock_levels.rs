//! Low-stock detection, shared by every change that moves a SKU's available stock
//! (intake reservations, ops stock changes, settlement). Called inside the caller's
//! transaction: it writes a `stock.low` event through the outbox for each SKU at or
//! under its threshold that has no open alert at that level yet, and resolves the open
//! alerts of each SKU that is back above its threshold. The alert worker opens at most
//! one alert per (sku, level) (a unique index), so an extra event is harmless.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::outbox;

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
/// `stock.low` events it wrote. Locks the SKU rows (in SKU order, like intake), so it
/// serialises with the alert worker and with other stock changes.
pub async fn check(tx: &mut PgConnection, skus: &[String]) -> sqlx::Result<Vec<StockLow>> {
    // One round trip: each SKU's level with the alert levels open for it.
    let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT s.sku, (s.stock - s.reserved)::BIGINT, s.low_stock_threshold::BIGINT, a.level
         FROM skus s LEFT JOIN stock_alerts a ON a.sku = s.sku AND a.state = 'open'
         WHERE s.sku = ANY($1) ORDER BY s.sku FOR UPDATE OF s",
    )
    .bind(skus)
    .fetch_all(&mut *tx)
    .await?;
    let mut levels: Vec<(String, i64, i64)> = Vec::new();
    let mut open: Vec<(String, String)> = Vec::new();
    for (sku, available, threshold, level) in rows {
        if let Some(level) = level {
            open.push((sku.clone(), level));
        }
        if levels.last().is_none_or(|(last, _, _)| *last != sku) {
            levels.push((sku, available, threshold));
        }
    }

    let mut written = Vec::new();
    for (sku, available, threshold) in levels {
        let is_open = |level: Level| open.iter().any(|(s, l)| *s == sku && l == level.as_str());
        match Level::of(available, threshold) {
            None => {
                if open.iter().any(|(s, _)| *s == sku) {
                    sqlx::query(
                        "UPDATE stock_alerts SET state = 'resolved', resolved_at = now()
                         WHERE sku = $1 AND state = 'open'",
                    )
                    .bind(&sku)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Some(level) if is_open(level) => {}
            Some(level) => {
                let event = StockLow {
                    sku,
                    level,
                    available,
                    threshold,
                };
                outbox::enqueue(tx, STOCK_LOW, &event.sku, &event).await?;
                written.push(event);
            }
        }
    }
    Ok(written)
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
