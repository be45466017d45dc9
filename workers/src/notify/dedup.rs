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

use std::sync::Arc;

use cartwright_shared::batch::Batcher;
use lettre::Message;
use sqlx::PgPool;
use uuid::Uuid;

use super::mailer::{Mailer, SendError};
use cartwright_shared::queue::handler::HandlerError;

/// Marks claimed emails `sent`: the marks of emails sent at the same moment go in one
/// statement and one commit (issue 15: the mark was a commit of its own per email).
#[derive(Clone)]
pub struct SentMarks {
    /// The database the claims and marks are kept in.
    pub pool: PgPool,
    batcher: Batcher<String, (), Arc<sqlx::Error>>,
}

/// Marks in flight at once; more wait and go together in the next statement.
const MARKERS: usize = 2;
const MAX_MARKS: usize = 256;

impl SentMarks {
    pub fn start(pool: PgPool) -> Self {
        let marks_pool = pool.clone();
        let batcher = Batcher::start(MARKERS, MAX_MARKS, move |keys: Vec<String>| {
            let pool = marks_pool.clone();
            async move {
                let count = keys.len();
                sqlx::query(
                    "UPDATE emails_sent SET state = 'sent', sent_at = now()
                     WHERE dedup_key = ANY($1)",
                )
                .bind(keys)
                .execute(&pool)
                .await
                .map_err(Arc::new)?;
                Ok(vec![(); count])
            }
        });
        Self { pool, batcher }
    }

    async fn mark(&self, key: &str) -> Result<(), HandlerError> {
        self.batcher
            .run(key.to_owned())
            .await
            .map_err(|e| HandlerError::Transient(anyhow::anyhow!("marking email {key} sent: {e}")))
    }
}

/// The claim's row key: one email per (event, template).
pub fn key(event_id: Uuid, template: &str) -> String {
    format!("{event_id}:{template}")
}

/// What claiming found. The conflict clause that makes a claim is [`CLAIM_ON_CONFLICT`],
/// shared by [`claim`] and the customer email's one-statement claim-and-read.
pub enum Claim {
    /// Ours to send.
    Claimed,
    /// Sent before: nothing to do.
    AlreadySent,
    /// An earlier attempt may have sent it (it died mid-send).
    InDoubt,
}

impl Claim {
    /// From whether the claim's insert took the row, and the row's state before it.
    pub fn of(claimed: bool, earlier: Option<&str>) -> Self {
        match (claimed, earlier) {
            (true, _) => Claim::Claimed,
            (false, Some("sent")) => Claim::AlreadySent,
            (false, _) => Claim::InDoubt,
        }
    }
}

/// Completes `INSERT INTO emails_sent (dedup_key, event_id, template, recipient, state)
/// … 'sending'`: a new key is claimed, and so is one whose earlier send failed for good
/// (ops replayed it); a key `sending` or `sent` is not.
pub const CLAIM_ON_CONFLICT: &str = "ON CONFLICT (dedup_key) DO UPDATE
         SET state = 'sending', error = NULL, created_at = now(), recipient = EXCLUDED.recipient
         WHERE emails_sent.state = 'failed'";

pub async fn claim(
    pool: &PgPool,
    event_id: Uuid,
    template: &str,
    recipient: &str,
) -> sqlx::Result<Claim> {
    let key = key(event_id, template);
    // The state before the claim comes from the statement's snapshot, taken before the
    // insert: one round trip whatever the answer.
    let (claimed, earlier): (bool, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH claim AS (
             INSERT INTO emails_sent (dedup_key, event_id, template, recipient, state)
             VALUES ($1, $2, $3, $4, 'sending') {CLAIM_ON_CONFLICT}
             RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM claim),
                (SELECT state FROM emails_sent WHERE dedup_key = $1)"
    )))
    .bind(&key)
    .bind(event_id)
    .bind(template)
    .bind(recipient)
    .fetch_one(pool)
    .await?;
    Ok(Claim::of(claimed, earlier.as_deref()))
}

/// Sends `message` at most once for (event, template); Ok also when it was sent before.
/// `about` names what the email is about (`checkout chk_…`, `order MO-…`) for the logs
/// and errors: they never carry the recipient, a person's address, which only
/// `emails_sent` keeps.
pub async fn send_once(
    marks: &SentMarks,
    mailer: &Mailer,
    event_id: Uuid,
    template: &str,
    recipient: &str,
    about: &str,
    message: Message,
) -> Result<(), HandlerError> {
    let key = key(event_id, template);
    if proceed(
        claim(&marks.pool, event_id, template, recipient).await?,
        &key,
        about,
    )? {
        send_claimed(&marks.pool, marks, mailer, &key, about, message).await
    } else {
        Ok(())
    }
}

/// Whether a claim lets the email go: `Ok(false)` when it was sent before, an error when
/// an earlier attempt may have sent it.
pub fn proceed(claim: Claim, key: &str, about: &str) -> Result<bool, HandlerError> {
    match claim {
        Claim::Claimed => Ok(true),
        Claim::AlreadySent => {
            tracing::info!(%key, %about, "email already sent; not sending it again");
            Ok(false)
        }
        Claim::InDoubt => Err(HandlerError::Permanent(anyhow::anyhow!(
            "email {key} ({about}): an earlier attempt stopped while sending it, so it \
             may have been delivered; not sending it again (at most once). To send it \
             anyway, delete its emails_sent row and replay this message"
        ))),
    }
}

/// Sends a claimed email and marks it sent.
pub async fn send_claimed(
    pool: &PgPool,
    marks: &SentMarks,
    mailer: &Mailer,
    key: &str,
    about: &str,
    message: Message,
) -> Result<(), HandlerError> {
    match mailer.send(message).await {
        Ok(()) => {
            // Marking may fail (the database away): then a redelivery finds `sending`
            // and dead-letters instead of sending twice.
            marks.mark(key).await?;
            tracing::info!(%key, %about, "email sent");
            Ok(())
        }
        Err(SendError::Transient(error)) => {
            sqlx::query("DELETE FROM emails_sent WHERE dedup_key = $1 AND state = 'sending'")
                .bind(key)
                .execute(pool)
                .await?;
            Err(HandlerError::Transient(anyhow::anyhow!(
                "email {key} ({about}): {error}"
            )))
        }
        Err(SendError::Permanent(error)) => Err(give_up(pool, key, about, &error).await?),
    }
}

/// A claimed email that will never go (the server refused it, or it cannot be built):
/// marked `failed`, which a replay by ops may claim again.
pub async fn give_up(
    pool: &PgPool,
    key: &str,
    about: &str,
    error: &str,
) -> Result<HandlerError, HandlerError> {
    sqlx::query("UPDATE emails_sent SET state = 'failed', error = $2 WHERE dedup_key = $1")
        .bind(key)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(HandlerError::Permanent(anyhow::anyhow!(
        "email {key} ({about}): {error}"
    )))
}
