//! `GET /v1/orders?customer=`: one customer's orders at one storefront, newest first,
//! a page at a time.
//!
//! The customer is the storefront's own reference (`customer.reference` of its
//! checkouts) or, as a fallback, the e-mail address (compared without case). Orders are
//! ordered by their checkout's creation, newest first, then checkout id and order number
//! (a checkout's orders are created together), and paged by keyset: the cursor is the
//! last order's (created_at, checkout id, order number), so a page costs the same however
//! deep it is and orders created meanwhile never shift a page. Each key has its own
//! index (migration 0015) that leads with the principal: a storefront's listing never
//! reads another's rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::view::{self, OrderView};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Whose orders.
pub enum CustomerKey {
    /// The storefront's own id for its customer.
    Reference(String),
    /// Any case: `Jane@Example.com` finds `jane@example.com`.
    Email(String),
}

/// Where the next page starts: just after this order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    checkout_id: String,
    number: String,
}

/// The cursor is opaque to clients: hex of `1.<micros>.<checkout id>.<order number>`.
/// The version lets its form change without old cursors being misread.
const CURSOR_VERSION: &str = "1";

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{CURSOR_VERSION}.{}.{}.{}",
            self.created_at.timestamp_micros(),
            self.checkout_id,
            self.number
        ))
    }

    /// `None` for anything this API did not hand out.
    pub fn decode(text: &str) -> Option<Self> {
        let plain = String::from_utf8(hex::decode(text).ok()?).ok()?;
        let mut parts = plain.split('.');
        let (version, micros, checkout_id, number) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let id_like = |s: &str| {
            (1..=64).contains(&s.len())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if version != CURSOR_VERSION
            || parts.next().is_some()
            || !id_like(checkout_id)
            || !id_like(number)
        {
            return None;
        }
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            checkout_id: checkout_id.to_owned(),
            number: number.to_owned(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Key {
    number: String,
    checkout_id: String,
    created_at: DateTime<Utc>,
}

/// The first page starts after (infinity, '', ''): before every real order. The
/// two-column bound is what the index can seek to; the three-column one then skips the
/// orders of the cursor's own checkout already shown.
const PAGE: &str = "SELECT o.number, c.id AS checkout_id, c.created_at
     FROM checkouts c JOIN orders o ON o.checkout_id = c.id
     WHERE c.principal = $1 AND {key}
       AND (c.created_at, c.id) <= (COALESCE($3, 'infinity'::timestamptz), COALESCE($4, ''))
       AND (c.created_at, c.id, o.number)
           < (COALESCE($3, 'infinity'::timestamptz), COALESCE($4, ''), COALESCE($5, ''))
     ORDER BY c.created_at DESC, c.id DESC, o.number DESC
     LIMIT $6";

/// The expressions of migration 0015's indexes, exactly: the planner matches them as
/// written.
const BY_REFERENCE: &str = "(c.customer ->> 'reference') = $2";
const BY_EMAIL: &str = "lower(c.customer ->> 'email') = lower($2)";

pub async fn page(
    conn: &mut PgConnection,
    principal: &str,
    key: &CustomerKey,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Page> {
    let (condition, value) = match key {
        CustomerKey::Reference(reference) => (BY_REFERENCE, reference),
        CustomerKey::Email(email) => (BY_EMAIL, email),
    };
    // One row more than the page says whether there is a next one.
    let mut keys: Vec<Key> = sqlx::query_as(sqlx::AssertSqlSafe(PAGE.replace("{key}", condition)))
        .bind(principal)
        .bind(value)
        .bind(after.map(|c| c.created_at))
        .bind(after.map(|c| c.checkout_id.as_str()))
        .bind(after.map(|c| c.number.as_str()))
        .bind(limit + 1)
        .fetch_all(&mut *conn)
        .await?;
    let more = keys.len() as i64 > limit;
    keys.truncate(limit as usize);
    let next_cursor = more.then(|| keys.last()).flatten().map(|last| {
        Cursor {
            created_at: last.created_at,
            checkout_id: last.checkout_id.clone(),
            number: last.number.clone(),
        }
        .encode()
    });
    let numbers: Vec<String> = keys.into_iter().map(|k| k.number).collect();
    Ok(Page {
        orders: view::storefront_orders(conn, &numbers).await?,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_itself_and_nothing_else_reads_as_one() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_763_200_123_456).unwrap(),
            checkout_id: "chk_3xQ9bT2mKp7LwZ1aR5vN8cYd".into(),
            number: "MO-7K2D9QX4MB".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in [
            "",
            "zz",
            "not a cursor",
            &hex::encode("2.1.chk_a.MO-1"),
            &hex::encode("1.x.chk_a.MO-1"),
            &hex::encode("1.1.chk_a"),
            &hex::encode("1.1.chk_a.MO-1.extra"),
            &hex::encode("1.1.chk a.MO-1"),
            &hex::encode("1.99999999999999999999.chk_a.MO-1"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
