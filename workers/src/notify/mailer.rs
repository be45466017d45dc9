//! Where email goes: an SMTP server in production, or a directory of `.eml` files (the
//! embedded default when no SMTP server is configured). Failures come back classified:
//! a connection error or a 4xx reply means the server did not take the message (try
//! again later); a 5xx reply means it never will (dead-letter, with its answer).

use std::time::Duration;

use anyhow::Context as _;
use cartwright_shared::config::{NotificationsConfig, SmtpConfig, SmtpTls};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

/// Below the handler's 60 s timeout, so a slow server ends as an SMTP error of ours.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server surely did not take it (no connection, a 4xx reply): try again.
    #[error("{0}")]
    Transient(String),
    /// The server refused it for good (a 5xx reply): the text carries its answer.
    #[error("{0}")]
    Permanent(String),
}

impl Mailer {
    pub fn from_config(config: &NotificationsConfig) -> anyhow::Result<Self> {
        let Some(smtp) = &config.smtp else {
            std::fs::create_dir_all(&config.email_dir)
                .with_context(|| format!("creating EMAIL_DIR {}", config.email_dir.display()))?;
            return Ok(Self::Files(AsyncFileTransport::new(&config.email_dir)));
        };
        let transport = match smtp {
            SmtpConfig::Url(url) => {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
            }
            SmtpConfig::Parts {
                host,
                port,
                tls,
                user,
                password,
            } => {
                let tls = match tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::StartTls => Tls::Required(
                        TlsParameters::new(host.clone()).context("SMTP_HOST: TLS parameters")?,
                    ),
                    SmtpTls::Implicit => Tls::Wrapper(
                        TlsParameters::new(host.clone()).context("SMTP_HOST: TLS parameters")?,
                    ),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .tls(tls);
                if let Some(user) = user {
                    let password = password
                        .as_ref()
                        .map(|p| p.expose_secret().to_owned())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                builder
            }
        };
        Ok(Self::Smtp(transport.timeout(Some(SMTP_TIMEOUT)).build()))
    }

    /// Where the mail goes, for the start-up log line (no credentials).
    pub fn describe(&self, config: &NotificationsConfig) -> String {
        match (self, &config.smtp) {
            (Self::Files(_), _) => format!("files in {}", config.email_dir.display()),
            (Self::Smtp(_), Some(SmtpConfig::Parts { host, port, .. })) => {
                format!("SMTP {host}:{port}")
            }
            (Self::Smtp(_), _) => "SMTP (SMTP_URL)".into(),
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(classify),
            // A disk error is worth retrying: the file was not written.
            Self::Files(files) => files
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Transient(format!("writing the .eml file: {e}"))),
        }
    }
}

fn classify(err: lettre::transport::smtp::Error) -> SendError {
    let text = format!("SMTP: {err}");
    if err.is_permanent() {
        SendError::Permanent(text)
    } else {
        // 4xx replies, timeouts, refused or dropped connections, TLS handshakes.
        SendError::Transient(text)
    }
}
