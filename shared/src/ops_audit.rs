//! The `ops_audit` trail: who did what to which thing. A target is always
//! `<kind>:<id>`, built here, so all rows about one thing are one look-up: an order's
//! console page lists `order:<number>`, whoever wrote the row.

use std::fmt;

use sqlx::PgConnection;

#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Order(&'a str),
    Checkout(&'a str),
    Store(&'a str),
    Sku(&'a str),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Order(number) => write!(f, "order:{number}"),
            Self::Checkout(id) => write!(f, "checkout:{id}"),
            Self::Store(id) => write!(f, "store:{id}"),
            Self::Sku(sku) => write!(f, "sku:{sku}"),
        }
    }
}

/// One row, in the caller's transaction: it exists if and only if the change does.
pub async fn record(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    target: Target<'_>,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO ops_audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)")
        .bind(actor)
        .bind(action)
        .bind(target.to_string())
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}
