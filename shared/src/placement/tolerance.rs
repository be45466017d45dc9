//! What a retailer may charge: the store's tolerance (`stores.price_tolerance_bps`, basis
//! points above the expected amount) applied to a unit price before the browser worker
//! buys, and to the total paid once an order is bought, whoever bought it. Integer
//! arithmetic only: a float's rounding must never decide whether money was overpaid.

use serde_json::json;
use sqlx::PgConnection;

use crate::money::Minor;
use crate::ops_alert::{self, OpsAlert};

/// The ops alert raised when a total paid is over the tolerance.
pub const ALERT_KIND: &str = "total_over_expected";

/// 100 % in basis points.
const WHOLE: i128 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Within,
    /// Over the tolerance; `by` is what was charged minus what was expected (minor units).
    Over {
        by: i64,
    },
}

/// `charged` against `expected` (both minor units) with `tolerance_bps` of headroom above
/// `expected`. Less than expected is always within: only overpaying costs the business.
pub fn compare(expected: i64, charged: i64, tolerance_bps: i32) -> Verdict {
    // In i128 the products cannot overflow for any i64 amount and i32 tolerance.
    let limit = i128::from(expected) * (WHOLE + i128::from(tolerance_bps));
    if i128::from(charged) * WHOLE > limit {
        Verdict::Over {
            by: charged.saturating_sub(expected),
        }
    } else {
        Verdict::Within
    }
}

/// `200` → `"2.00 %"`.
pub fn percent(tolerance_bps: i32) -> String {
    format!("{}.{:02} %", tolerance_bps / 100, tolerance_bps % 100)
}

/// Records the total the retailer charged for an order being placed, in the caller's
/// transaction (which marks it placed and holds its row): `orders.total_paid`, and when
/// it is over the store's tolerance, `orders.paid_over_expected` and an ops alert. The
/// order is placed either way: it was bought, and finance settles the difference.
pub async fn record_total_paid(
    conn: &mut PgConnection,
    checkout_id: &str,
    number: &str,
    total_paid: i64,
    actor: &str,
) -> sqlx::Result<Verdict> {
    let (expected, currency, tolerance_bps): (i64, String, i32) = sqlx::query_as(
        "SELECT o.total, o.currency, s.price_tolerance_bps
         FROM orders o JOIN stores s ON s.id = o.store_id WHERE o.number = $1",
    )
    .bind(number)
    .fetch_one(&mut *conn)
    .await?;
    let verdict = compare(expected, total_paid, tolerance_bps);
    let over_by = match verdict {
        Verdict::Over { by } => Some(by),
        Verdict::Within => None,
    };
    sqlx::query("UPDATE orders SET total_paid = $2, paid_over_expected = $3 WHERE number = $1")
        .bind(number)
        .bind(total_paid)
        .bind(over_by)
        .execute(&mut *conn)
        .await?;
    if let Some(by) = over_by {
        let (expected, paid, by) = (Minor(expected), Minor(total_paid), Minor(by));
        let alert = OpsAlert {
            kind: ALERT_KIND.to_owned(),
            target: format!("order:{number}"),
            message: format!(
                "Order {number} was bought for {}, {} more than the expected {} (the store's \
                 tolerance is {}). It is placed; check the charge with the retailer and settle \
                 the difference.",
                paid.for_display(&currency),
                by.for_display(&currency),
                expected.for_display(&currency),
                percent(tolerance_bps),
            ),
            detail: json!({
                "order_number": number,
                "currency": currency,
                "expected_total": expected,
                "total_paid": paid,
                "over_by": by,
                "tolerance_bps": tolerance_bps,
            }),
        };
        ops_alert::raise(conn, actor, checkout_id, &alert).await?;
        tracing::warn!(order = number, %expected, %paid, %by, "total paid over the store's tolerance");
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_is_strictly_above_the_tolerance() {
        // 2 % of 100.00 is 2.00: 102.00 is within, 102.01 is over by 2.01.
        assert_eq!(compare(10_000, 10_200, 200), Verdict::Within);
        assert_eq!(compare(10_000, 10_201, 200), Verdict::Over { by: 201 });
        assert_eq!(compare(10_000, 9_000, 0), Verdict::Within);
        assert_eq!(compare(10_000, 10_001, 0), Verdict::Over { by: 1 });
        // A fraction of a cent of headroom is honoured exactly: 1.5 % of 8999 is 134.985.
        assert_eq!(compare(8_999, 8_999 + 134, 150), Verdict::Within);
        assert_eq!(compare(8_999, 8_999 + 135, 150), Verdict::Over { by: 135 });
        assert_eq!(compare(0, 1, 10_000), Verdict::Over { by: 1 });
    }

    #[test]
    fn huge_amounts_do_not_overflow() {
        assert_eq!(compare(i64::MAX, i64::MAX, 10_000), Verdict::Within);
        assert_eq!(compare(0, i64::MAX, 0), Verdict::Over { by: i64::MAX });
    }

    #[test]
    fn percent_is_written_from_basis_points() {
        assert_eq!(percent(200), "2.00 %");
        assert_eq!(percent(15), "0.15 %");
        assert_eq!(percent(10_000), "100.00 %");
    }
}
