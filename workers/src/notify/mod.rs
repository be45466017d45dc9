//! Notifications: customer emails (queue `emails`) and low-stock alerts to ops (queue
//! `alerts`). Both send through one [`mailer::Mailer`] (SMTP, or `.eml` files when no
//! server is configured) and de-duplicate every email through [`dedup`].

pub mod alerts;
pub mod dedup;
pub mod emails;
pub mod mailer;
pub mod templates;

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use cartwright_shared::config::NotificationsConfig;
use cartwright_shared::queue::handler;
use lettre::message::Mailbox;
use sqlx::PgPool;

use crate::context::WorkerContext;

/// Builds both workers' shared parts from the configuration; fails at start-up on a bad
/// address, template or SMTP setting. Both mark sent emails through one [`dedup::SentMarks`]
/// on `pool`.
pub fn build(
    config: &NotificationsConfig,
    pool: PgPool,
) -> anyhow::Result<(emails::EmailWorker, alerts::AlertWorker)> {
    let mailer = mailer::Mailer::from_config(config)?;
    let marks = dedup::SentMarks::start(pool);
    let templates = Arc::new(templates::Templates::load().context("email templates")?);
    let emails = emails::EmailWorker::new(
        mailer.clone(),
        marks.clone(),
        templates.clone(),
        &config.from,
    )?;
    let recipients = config
        .ops_alert_emails
        .iter()
        .map(|a| {
            a.parse::<Mailbox>()
                .map_err(|e| anyhow!("OPS_ALERT_EMAILS: {a:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let webhook = match (&config.alert_webhook_url, &config.alert_webhook_secret) {
        (Some(url), _) if !url.starts_with("http://") => {
            // The HTTP client is built without TLS (its rustls default pulls aws-lc);
            // refuse at start rather than fail every alert.
            return Err(anyhow!(
                "ALERT_WEBHOOK_URL must be an http:// URL (https is not supported yet; \
                 terminate TLS in a local proxy)"
            ));
        }
        (Some(url), Some(secret)) => Some(alerts::Webhook {
            url: url.clone(),
            secret: secret.clone(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .context("webhook HTTP client")?,
        }),
        _ => None,
    };
    tracing::info!(
        mail = %mailer.describe(config),
        alert_recipients = recipients.len(),
        webhook = webhook.is_some(),
        "notifications configured"
    );
    let alerts = alerts::AlertWorker {
        mailer,
        marks,
        templates,
        from: emails.from.clone(),
        recipients,
        webhook,
    };
    Ok((emails, alerts))
}

/// Runs the email worker until shutdown.
pub async fn run_emails(ctx: WorkerContext, worker: emails::EmailWorker) {
    handler::run(worker, ctx.pool, &ctx.broker, ctx.topology, ctx.shutdown).await;
}

/// Runs the alert worker until shutdown.
pub async fn run_alerts(ctx: WorkerContext, worker: alerts::AlertWorker) {
    handler::run(worker, ctx.pool, &ctx.broker, ctx.topology, ctx.shutdown).await;
}
