//! "One event never sends two emails": every email is claimed in `emails_sent` under
//! (event id, template) in its own committed row BEFORE it goes to the mail server, and
//! marked `sent` after. A redelivery that finds `sent` does nothing. A transient failure
//! (the server surely did not take the message) deletes the claim so a retry can claim
//! it again; a permanent one marks it `failed` (a replay by ops may claim it again).
//!
//! A claim still `sending` means an earlier attempt died between claiming and marking:
//! the email may or may not have gone out. We choose AT-MOST-ONCE: it is not sent again
//! automatically; the message is dead-lettered saying so, and ops decide (delete the row
//! and replay to send it anyway). See docs/architecture.md, "Notifications".

use lettre::Message;
use sqlx::PgPool;
use uuid::Uuid;

use super::mailer::{Mailer, SendError};
use cartwright_shared::queue::handler::HandlerError;

pub enum Claim {
    /// Ours to send.
    Claimed,
    /// Sent before: nothing to do.
    AlreadySent,
    /// An earlier attempt may have sent it (it died mid-send).
    InDoubt,
}

pub async fn claim(
    pool: &PgPool,
    event_id: Uuid,
    template: &str,
    recipient: &str,
) -> sqlx::Result<Claim> {
    let key = format!("{event_id}:{template}");
    let claimed = sqlx::query(
        "INSERT INTO emails_sent (dedup_key, event_id, template, recipient, state)
         VALUES ($1, $2, $3, $4, 'sending')
         ON CONFLICT (dedup_key) DO UPDATE
             SET state = 'sending', error = NULL, created_at = now(), recipient = EXCLUDED.recipient
             WHERE emails_sent.state = 'failed'",
    )
    .bind(&key)
    .bind(event_id)
    .bind(template)
    .bind(recipient)
    .execute(pool)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let state: String = sqlx::query_scalar("SELECT state FROM emails_sent WHERE dedup_key = $1")
        .bind(&key)
        .fetch_one(pool)
        .await?;
    Ok(if state == "sent" {
        Claim::AlreadySent
    } else {
        Claim::InDoubt
    })
}

/// Sends `message` at most once for (event, template); Ok also when it was sent before.
/// `about` names what the email is about (`checkout chk_…`, `order MO-…`) for the logs
/// and errors: they never carry the recipient, a person's address, which only
/// `emails_sent` keeps.
pub async fn send_once(
    pool: &PgPool,
    mailer: &Mailer,
    event_id: Uuid,
    template: &str,
    recipient: &str,
    about: &str,
    message: Message,
) -> Result<(), HandlerError> {
    let key = format!("{event_id}:{template}");
    match claim(pool, event_id, template, recipient).await? {
        Claim::AlreadySent => {
            tracing::info!(%key, %about, "email already sent; not sending it again");
            return Ok(());
        }
        Claim::InDoubt => {
            return Err(HandlerError::Permanent(anyhow::anyhow!(
                "email {key} ({about}): an earlier attempt stopped while sending it, so it \
                 may have been delivered; not sending it again (at most once). To send it \
                 anyway, delete its emails_sent row and replay this message"
            )));
        }
        Claim::Claimed => {}
    }
    match mailer.send(message).await {
        Ok(()) => {
            // Marking may fail (the database away): then a redelivery finds `sending`
            // and dead-letters instead of sending twice.
            sqlx::query(
                "UPDATE emails_sent SET state = 'sent', sent_at = now() WHERE dedup_key = $1",
            )
            .bind(&key)
            .execute(pool)
            .await?;
            tracing::info!(%key, %about, "email sent");
            Ok(())
        }
        Err(SendError::Transient(error)) => {
            sqlx::query("DELETE FROM emails_sent WHERE dedup_key = $1 AND state = 'sending'")
                .bind(&key)
                .execute(pool)
                .await?;
            Err(HandlerError::Transient(anyhow::anyhow!(
                "email {key} ({about}): {error}"
            )))
        }
        Err(SendError::Permanent(error)) => {
            sqlx::query("UPDATE emails_sent SET state = 'failed', error = $2 WHERE dedup_key = $1")
                .bind(&key)
                .bind(&error)
                .execute(pool)
                .await?;
            Err(HandlerError::Permanent(anyhow::anyhow!(
                "email {key} ({about}): {error}"
            )))
        }
    }
}
