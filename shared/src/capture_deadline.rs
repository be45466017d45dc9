//! The capture deadline. A card authorization lapses at Stripe about a week after it
//! was made (`checkouts.capture_before` is set a little earlier), and a lapsed one pays
//! nothing. The rule: **an order may be bought only while its checkout's authorization
//! can still pay for it.**
//!
//! Every step that commits to a purchase (the browser worker's final click, a person's
//! claim in the manual queue) checks the rule under the order's row lock, and the
//! capture-deadline guard fails orders under the same lock. So the three are
//! serialized: either the guard sees the purchase under way and waits for its outcome,
//! or the purchase finds the order failed (or the deadline near) and does not start.

use sqlx::PgConnection;

use crate::status::checkout;

/// No purchase starts this close to `capture_before`, and the guard fails the orders
/// not bought and not being bought from here on.
pub const MARGIN: &str = "12 hours";

/// The guard waits for a purchase under way until this close to `capture_before`;
/// then it captures what is placed and leaves the orders it cannot be sure of to ops.
pub const FINAL_MARGIN: &str = "1 hour";

/// Whether an order may be bought now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    Allowed,
    NoSuchOrder,
    /// The order is not in the status the purchase starts from (the guard failed it,
    /// or someone else moved it on); holds the status it is in.
    WrongStatus(String),
    /// Its checkout is not authorized, or the authorization ends within [`MARGIN`].
    AuthorizationEnding,
}

/// Locks the order's row until the transaction ends and says whether it may be bought
/// from `status`.
pub async fn lock_for_purchase(
    conn: &mut PgConnection,
    number: &str,
    status: &str,
) -> sqlx::Result<Purchase> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT o.status,
                COALESCE(c.status = $3 AND c.capture_before > now() + $2::interval, false)
         FROM orders o JOIN checkouts c ON c.id = o.checkout_id
         WHERE o.number = $1 FOR UPDATE OF o",
    )
    .bind(number)
    .bind(MARGIN)
    .bind(checkout::AUTHORIZED)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Purchase::NoSuchOrder,
        Some((current, _)) if current != status => Purchase::WrongStatus(current),
        Some((_, false)) => Purchase::AuthorizationEnding,
        Some((_, true)) => Purchase::Allowed,
    })
}
