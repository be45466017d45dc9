//! The alert worker (queue `alerts`). `ops.alert` events (`cartwright_shared::ops_alert`:
//! one thing that needs a person) are emailed and posted to the webhook as they come,
//! each at most once by email (keyed by the event) and at least once to the webhook
//! (`alert_id` is the event id).
//!
//! `stock.low` events become one alert per SKU and level. The alert row (unique while open per (sku, level)) is committed first;
//! then ops are emailed (at most once, through [`super::dedup`]) and the webhook is
//! called (at least once: the receiver de-duplicates on `alert_id`). Only the event
//! that opened the alert notifies; a redelivery of it resumes what did not finish.
//! The alert resolves when the SKU is restocked above its threshold
//! (`cartwright_shared::stock_levels::check`).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use cartwright_shared::ops_alert::{self, OpsAlert};
use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::{self, WorkQueue};
use cartwright_shared::stock_levels::{Level, StockLow};
use hmac::{Hmac, Mac};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

use super::dedup;
use super::mailer::Mailer;
use super::templates::{Rendered, Templates};

pub const SIGNATURE_HEADER: &str = "X-Cartwright-Signature";
const TEMPLATE: &str = "stock_alert";
const OPS_TEMPLATE: &str = "ops_alert";

#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: SecretString,
    pub client: reqwest::Client,
}

#[derive(Clone)]
pub struct AlertWorker {
    pub mailer: Mailer,
    pub marks: dedup::SentMarks,
    pub templates: Arc<Templates>,
    pub from: Mailbox,
    pub recipients: Vec<Mailbox>,
    pub webhook: Option<Webhook>,
}

/// The webhook's body.
#[derive(Serialize)]
struct AlertBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    alert_id: i64,
    sku: &'a str,
    title: &'a str,
    store: &'a str,
    level: Level,
    available: i64,
    threshold: i64,
}

/// The webhook's body for an `ops.alert`.
#[derive(Serialize)]
struct OpsAlertBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    alert_id: Uuid,
    #[serde(flatten)]
    alert: &'a OpsAlert,
}

#[derive(Serialize)]
struct OpsAlertContext<'a> {
    kind: &'a str,
    target: &'a str,
    message: &'a str,
    detail: String,
}

#[derive(Serialize)]
struct AlertContext<'a> {
    sku: &'a str,
    title: &'a str,
    store_name: &'a str,
    level: &'static str,
    available: i64,
    threshold: i64,
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, like Stripe's: the
/// timestamp lets the receiver refuse old replays.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

struct Open {
    id: i64,
    emailed: bool,
    webhook_sent: bool,
}

impl Handler for AlertWorker {
    fn queue(&self) -> WorkQueue {
        work_queues::alerts()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        match message.message_type.as_str() {
            "stock.low" => self.stock_low(ctx, message).await,
            ops_alert::EVENT => self.ops_alert(message).await,
            other => Err(HandlerError::Permanent(anyhow!(
                "the alerts queue does not handle {other}"
            ))),
        }
    }
}

impl AlertWorker {
    /// Emails the ops recipients once for `(event, template)`; `about` names the alert in
    /// the logs.
    async fn email(
        &self,
        event_id: Uuid,
        template: &str,
        about: &str,
        rendered: Rendered,
    ) -> Result<(), HandlerError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject)
            .message_id(Some(format!("<{event_id}.{template}@cartwright>")));
        for to in &self.recipients {
            builder = builder.to(to.clone());
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| HandlerError::Permanent(anyhow!("building the alert email: {e}")))?;
        let recipients = self
            .recipients
            .iter()
            .map(|m| m.email.to_string())
            .collect::<Vec<_>>()
            .join(",");
        dedup::send_once(
            &self.marks,
            &self.mailer,
            event_id,
            template,
            &recipients,
            about,
            email,
        )
        .await
    }

    async fn ops_alert(&self, message: &Envelope) -> Result<(), HandlerError> {
        let alert: OpsAlert = serde_json::from_value(message.payload.clone())
            .map_err(|e| HandlerError::Permanent(anyhow!("ops.alert payload: {e}")))?;
        if !self.recipients.is_empty() {
            let detail = serde_json::to_string_pretty(&alert.detail)
                .map_err(|e| HandlerError::Permanent(e.into()))?;
            let rendered = self
                .templates
                .render(
                    OPS_TEMPLATE,
                    OpsAlertContext {
                        kind: &alert.kind,
                        target: &alert.target,
                        message: &alert.message,
                        detail,
                    },
                )
                .map_err(|e| HandlerError::Permanent(anyhow!("template {OPS_TEMPLATE}: {e:#}")))?;
            let about = format!("ops alert {} on {}", alert.kind, alert.target);
            self.email(message.id, OPS_TEMPLATE, &about, rendered)
                .await?;
        }
        if let Some(webhook) = &self.webhook {
            let body = serde_json::to_vec(&OpsAlertBody {
                kind: "ops.alert",
                alert_id: message.id,
                alert: &alert,
            })
            .map_err(|e| HandlerError::Permanent(e.into()))?;
            post(webhook, body).await?;
        }
        tracing::warn!(kind = %alert.kind, target = %alert.target, "ops alert sent");
        Ok(())
    }

    async fn stock_low(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        let event: StockLow = serde_json::from_value(message.payload.clone())
            .map_err(|e| HandlerError::Permanent(anyhow!("stock.low payload: {e}")))?;
        let mut tx = ctx.begin().await?;
        // Shares the row lock with stock changes, so the level read here is current
        // and a restock cannot resolve alerts between this read and the insert.
        let sku: Option<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT (k.stock - k.reserved)::BIGINT, k.low_stock_threshold::BIGINT, k.title, s.name
             FROM skus k JOIN stores s ON s.id = k.store_id WHERE k.sku = $1 FOR SHARE OF k",
        )
        .bind(&event.sku)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((available, threshold, title, store)) = sku else {
            return Err(HandlerError::Permanent(anyhow!("no SKU {}", event.sku)));
        };
        let now = Level::of(available, threshold);
        let still = match event.level {
            Level::Low => now.is_some(),
            Level::Out => now == Some(Level::Out),
        };
        if !still {
            tracing::info!(sku = %event.sku, level = event.level.as_str(), available, "stale stock.low: restocked since");
            ctx.commit(tx).await?;
            return Ok(());
        }
        let Some(open) = open_alert(&mut tx, &event, message.id).await? else {
            tracing::debug!(sku = %event.sku, level = event.level.as_str(), "already alerted");
            ctx.commit(tx).await?;
            return Ok(());
        };
        // Committed before notifying: a crash from here on resumes on redelivery.
        tx.commit().await?;

        if !self.recipients.is_empty() && !open.emailed {
            let rendered = self
                .templates
                .render(
                    TEMPLATE,
                    AlertContext {
                        sku: &event.sku,
                        title: &title,
                        store_name: &store,
                        level: event.level.as_str(),
                        available: event.available,
                        threshold: event.threshold,
                    },
                )
                .map_err(|e| HandlerError::Permanent(anyhow!("template {TEMPLATE}: {e:#}")))?;
            let about = format!("low-stock alert {} on {}", open.id, event.sku);
            self.email(message.id, TEMPLATE, &about, rendered).await?;
            sqlx::query("UPDATE stock_alerts SET emailed_at = now() WHERE id = $1")
                .bind(open.id)
                .execute(ctx.pool())
                .await?;
        }
        if let Some(webhook) = &self.webhook
            && !open.webhook_sent
        {
            let body = serde_json::to_vec(&AlertBody {
                kind: "stock.low",
                alert_id: open.id,
                sku: &event.sku,
                title: &title,
                store: &store,
                level: event.level,
                available: event.available,
                threshold: event.threshold,
            })
            .map_err(|e| HandlerError::Permanent(e.into()))?;
            post(webhook, body).await?;
            sqlx::query("UPDATE stock_alerts SET webhook_sent_at = now() WHERE id = $1")
                .bind(open.id)
                .execute(ctx.pool())
                .await?;
        }
        tracing::info!(sku = %event.sku, level = event.level.as_str(), alert_id = open.id, "low-stock alert sent");
        Ok(())
    }
}

/// Opens the alert for (sku, level), or finds the open one this same event opened
/// earlier (a redelivery); None when another event already opened it.
async fn open_alert(
    tx: &mut sqlx::PgConnection,
    event: &StockLow,
    event_id: Uuid,
) -> sqlx::Result<Option<Open>> {
    let opened: Option<i64> = sqlx::query_scalar(
        "INSERT INTO stock_alerts (sku, level, available, threshold, event_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sku, level) WHERE state = 'open' DO NOTHING RETURNING id",
    )
    .bind(&event.sku)
    .bind(event.level.as_str())
    .bind(i32::try_from(event.available).unwrap_or(i32::MAX))
    .bind(i32::try_from(event.threshold).unwrap_or(i32::MAX))
    .bind(event_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = opened {
        return Ok(Some(Open {
            id,
            emailed: false,
            webhook_sent: false,
        }));
    }
    let existing: Option<(i64, Uuid, bool, bool)> = sqlx::query_as(
        "SELECT id, event_id, emailed_at IS NOT NULL, webhook_sent_at IS NOT NULL
         FROM stock_alerts WHERE sku = $1 AND level = $2 AND state = 'open'",
    )
    .bind(&event.sku)
    .bind(event.level.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(existing
        .filter(|(_, opener, _, _)| *opener == event_id)
        .map(|(id, _, emailed, webhook_sent)| Open {
            id,
            emailed,
            webhook_sent,
        }))
}

async fn post(webhook: &Webhook, body: Vec<u8>) -> Result<(), HandlerError> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let signature = signature(webhook.secret.expose_secret(), timestamp, &body);
    let response = webhook
        .client
        .post(&webhook.url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| HandlerError::Transient(anyhow!("alert webhook: {e}")))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(HandlerError::Transient(anyhow!(
            "alert webhook answered {status}"
        )))
    } else {
        Err(HandlerError::Permanent(anyhow!(
            "alert webhook answered {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with openssl.
        let sig = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(sig, signature("other", 1_700_000_000, b"{}"));
    }
}
