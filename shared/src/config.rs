//! Configuration comes from the environment (12-factor), parsed once at start-up into
//! one typed struct. A bad value stops the process with the variable's name; secrets
//! are wrapped so that neither `Debug` nor a log line can print them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use crate::retention::Retention;

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub reservations: ReservationConfig,
    pub broker: BrokerConfig,
    pub retention: Retention,
    pub notifications: NotificationsConfig,
    pub placement: PlacementConfig,
    pub stripe: StripeConfig,
}

/// Customer emails and ops alerts.
#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    /// Where mail goes; `None` (no SMTP_URL or SMTP_HOST) writes `.eml` files to `email_dir`.
    pub smtp: Option<SmtpConfig>,
    /// The From of every email, e.g. `Cartwright <orders@example.com>`.
    pub from: String,
    /// The `.eml` directory used when no SMTP server is configured.
    pub email_dir: PathBuf,
    /// Who gets low-stock alerts by email (none: no alert emails).
    pub ops_alert_emails: Vec<String>,
    /// Where low-stock alerts are POSTed as JSON (none: no webhook).
    pub alert_webhook_url: Option<String>,
    /// Signs the webhook body (HMAC-SHA256); required with `alert_webhook_url`.
    pub alert_webhook_secret: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub enum SmtpConfig {
    /// `SMTP_URL`, lettre's form: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host:465` (implicit TLS). Secret: it may hold a password.
    Url(SecretString),
    /// `SMTP_HOST` and friends.
    Parts {
        host: String,
        port: u16,
        tls: SmtpTls,
        user: Option<String>,
        password: Option<SecretString>,
    },
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a local relay or a test server only).
    None,
    /// Upgrade with STARTTLS; refuse to go on without it.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

impl FromStr for SmtpTls {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Implicit),
            _ => Err("expected none, starttls or tls".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlacementConfig {
    /// How long a claim on a manual-queue order lasts before it returns to the queue.
    pub lease: Duration,
    /// How often the scheduler returns expired claims to the queue.
    pub sweep_interval: Duration,
    /// At most one notice to ops per this long that orders wait in the manual queue;
    /// `None` (0) sends none.
    pub queue_notify_interval: Option<Duration>,
    /// Which company payment card ops buy with: a reference (a vault entry's name),
    /// never card data.
    pub card_reference: String,
    /// How long an ops console sign-in lasts.
    pub console_session_ttl: Duration,
    /// The console is reached over plain HTTP (local development): its cookies lose
    /// `Secure` and it sends no HSTS. Off unless said (`CONSOLE_PLAIN_HTTP=true`).
    pub console_plain_http: bool,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `sk_test_…` or `sk_live_…`; empty when the process does not talk to Stripe.
    pub secret_key: SecretString,
    /// Stripe's API, or the emulator's (scripts/up) for development and tests.
    pub api_base: String,
    /// Webhook signing secrets (`whsec_…`); a signature from any of them is accepted,
    /// so a secret can be rotated without dropping events.
    pub webhook_secrets: Vec<SecretString>,
    /// Per attempt; a timeout is a transient failure the job runtime retries.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// May carry a password, hence secret.
    pub url: SecretString,
    /// Every exchange and queue name starts with this (tests use one each).
    pub prefix: String,
    /// Unacknowledged deliveries per consumer; also its handler concurrency.
    pub prefetch: u16,
    /// Tries per message (first delivery included) before it is dead-lettered.
    pub max_attempts: u32,
    /// Delay before retry 1, 2, …; later retries reuse the last. Jittered ±20 %.
    pub retry_delays: Vec<Duration>,
    /// How often the outbox relay polls when no NOTIFY wakes it.
    pub outbox_poll_interval: Duration,
    /// Run the outbox relay inside the API process as well as in the workers.
    pub api_runs_relay: bool,
    /// Where `cartwright-workers` serves /metrics.
    pub workers_metrics_bind: SocketAddr,
    /// Queues unused this long are deleted by the broker. Tests only: unset (never) in
    /// production.
    pub queue_expires: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May carry a password, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    /// Intake requests per second per API key (0 turns the limit off).
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Requests without a valid key (a failed or missing key, console sign-in, health),
    /// per second per client address (0 turns the limit off).
    pub unauthenticated_per_second: u32,
    pub unauthenticated_burst: u32,
    /// Requests in flight in the process; beyond it, 503 `overloaded` at once.
    pub max_in_flight: usize,
    /// From routing to the last byte of the answer, the body's upload included.
    pub request_timeout: Duration,
    /// A connection that has not sent a request's headers in this time is closed.
    pub header_read_timeout: Duration,
    /// How long a Stripe PaymentIntent event that arrives while its checkout's payment
    /// job is still in flight waits before the stripe-events worker sees it: the job
    /// nearly always records the outcome itself meanwhile, and the event is dropped.
    pub stripe_event_park: Duration,
    /// Intake transactions in flight at once; the checkouts arriving while they are busy
    /// wait and go in the next batch, together.
    pub intake_writers: usize,
}

#[derive(Debug, Clone)]
pub struct ReservationConfig {
    /// How long stock stays held for a checkout that has not been paid.
    pub ttl: Duration,
    /// How often the reaper looks for expired holds.
    pub reaper_interval: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses from any lookup, so tests can build a config without touching the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup: &lookup };
        Ok(Self {
            retention: Retention {
                outbox: env.hours("OUTBOX_RETENTION_HOURS", 168)?,
                inbox: env.hours("INBOX_RETENTION_HOURS", 336)?,
                idempotency_keys: env.hours("IDEMPOTENCY_KEY_TTL_HOURS", 24)?,
            },
            database: DatabaseConfig {
                url: SecretString::from(env.string(
                    "DATABASE_URL",
                    "postgres://postgres@127.0.0.1:5432/cartwright",
                )),
                max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 20)?,
                acquire_timeout: Duration::from_secs(
                    env.parse("DATABASE_ACQUIRE_TIMEOUT_SECS", 5)?,
                ),
            },
            api: ApiConfig {
                bind: env.parse("API_BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
                rate_limit_per_second: env.parse("RATE_LIMIT_PER_SECOND", 50)?,
                rate_limit_burst: env.parse("RATE_LIMIT_BURST", 100)?,
                unauthenticated_per_second: env.parse("UNAUTHENTICATED_PER_SECOND", 10)?,
                unauthenticated_burst: env.parse("UNAUTHENTICATED_BURST", 50)?,
                max_in_flight: env.positive("API_MAX_IN_FLIGHT", 512)? as usize,
                request_timeout: Duration::from_secs(env.positive("API_REQUEST_TIMEOUT_SECS", 30)?),
                header_read_timeout: Duration::from_secs(
                    env.positive("API_HEADER_READ_TIMEOUT_SECS", 10)?,
                ),
                stripe_event_park: Duration::from_secs(env.parse("STRIPE_EVENT_PARK_SECS", 5)?),
                intake_writers: env.positive("INTAKE_WRITERS", 4)? as usize,
            },
            reservations: ReservationConfig {
                ttl: Duration::from_secs(env.parse("RESERVATION_TTL_SECS", 1800)?),
                reaper_interval: Duration::from_secs(env.parse("REAPER_INTERVAL_SECS", 30)?),
            },
            broker: BrokerConfig {
                url: SecretString::from(
                    env.string("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
                ),
                prefix: env.string("AMQP_PREFIX", "cartwright"),
                prefetch: env.parse("AMQP_PREFETCH", 32)?,
                max_attempts: env.parse("MAX_ATTEMPTS", 8)?,
                retry_delays: env.seconds_list("RETRY_DELAYS_SECS", &[1, 5, 30, 120, 600])?,
                outbox_poll_interval: Duration::from_millis(
                    env.parse("OUTBOX_POLL_INTERVAL_MS", 1000)?,
                ),
                api_runs_relay: env.parse("API_RUN_RELAY", false)?,
                workers_metrics_bind: env.parse(
                    "WORKERS_METRICS_BIND",
                    SocketAddr::from(([127, 0, 0, 1], 9100)),
                )?,
                queue_expires: match env.parse("AMQP_QUEUE_EXPIRES_SECS", 0u64)? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            },
            notifications: notifications(&env)?,
            placement: PlacementConfig {
                lease: Duration::from_secs(env.positive("PLACEMENT_LEASE_SECS", 900)?),
                sweep_interval: Duration::from_secs(
                    env.positive("PLACEMENT_SWEEP_INTERVAL_SECS", 30)?,
                ),
                queue_notify_interval: match env.parse("OPS_QUEUE_NOTIFY_SECS", 300u64)? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
                card_reference: env.string(
                    "PLACEMENT_CARD_REFERENCE",
                    "company card \"Ops Visa\" (vault: ops/cards/primary)",
                ),
                console_session_ttl: Duration::from_secs(
                    env.positive("CONSOLE_SESSION_TTL_SECS", 12 * 3600)?,
                ),
                console_plain_http: env.parse("CONSOLE_PLAIN_HTTP", false)?,
            },
            stripe: StripeConfig {
                secret_key: SecretString::from(env.string("STRIPE_SECRET_KEY", "")),
                api_base: env.string("STRIPE_API_BASE", "https://api.stripe.com/"),
                webhook_secrets: env
                    .string("STRIPE_WEBHOOK_SECRETS", "")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(SecretString::from)
                    .collect(),
                timeout: Duration::from_secs(env.parse("STRIPE_TIMEOUT_SECS", 20)?),
            },
        })
    }
}

fn notifications(env: &Env<'_>) -> Result<NotificationsConfig, ConfigError> {
    let optional = |name: &str| (env.lookup)(name).filter(|v| !v.trim().is_empty());
    let smtp = if let Some(url) = optional("SMTP_URL") {
        Some(SmtpConfig::Url(SecretString::from(url)))
    } else if let Some(host) = optional("SMTP_HOST") {
        let tls: SmtpTls = env.parse("SMTP_TLS", SmtpTls::StartTls)?;
        let default_port = match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
        };
        Some(SmtpConfig::Parts {
            host,
            port: env.parse("SMTP_PORT", default_port)?,
            tls,
            user: optional("SMTP_USER"),
            password: optional("SMTP_PASSWORD").map(SecretString::from),
        })
    } else {
        None
    };
    let ops_alert_emails = optional("OPS_ALERT_EMAILS")
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let alert_webhook_url = optional("ALERT_WEBHOOK_URL");
    let alert_webhook_secret = optional("ALERT_WEBHOOK_SECRET").map(SecretString::from);
    if alert_webhook_url.is_some() && alert_webhook_secret.is_none() {
        return Err(ConfigError {
            name: "ALERT_WEBHOOK_SECRET",
            problem: "required when ALERT_WEBHOOK_URL is set (the webhook is signed)".into(),
        });
    }
    Ok(NotificationsConfig {
        smtp,
        from: env.string("EMAIL_FROM", "Cartwright <orders@cartwright.localhost>"),
        email_dir: PathBuf::from(env.string("EMAIL_DIR", "var/mail")),
        ops_alert_emails,
        alert_webhook_url,
        alert_webhook_secret,
    })
}

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn string(&self, name: &'static str, default: &str) -> String {
        (self.lookup)(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn hours(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.parse::<u64>(name, default)? * 3600,
        ))
    }

    /// A comma-separated list of seconds, fractions allowed ("0.2,1,5").
    fn seconds_list(
        &self,
        name: &'static str,
        default: &[u64],
    ) -> Result<Vec<Duration>, ConfigError> {
        let Some(raw) = (self.lookup)(name).filter(|v| !v.is_empty()) else {
            return Ok(default.iter().map(|s| Duration::from_secs(*s)).collect());
        };
        let delays = raw
            .split(',')
            .map(|part| {
                Duration::try_from_secs_f64(part.trim().parse::<f64>().map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|problem| ConfigError {
                name,
                problem: format!("{raw:?}: {problem}"),
            })?;
        if delays.is_empty() {
            return Err(ConfigError {
                name,
                problem: "needs at least one delay".into(),
            });
        }
        Ok(delays)
    }

    /// Whole seconds above zero.
    fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.parse(name, default)? {
            0 => Err(ConfigError {
                name,
                problem: "must be above zero".into(),
            }),
            n => Ok(n),
        }
    }

    fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match (self.lookup)(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
                name,
                problem: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_apply_when_unset() {
        let config = Config::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(config.api.bind.port(), 8080);
        assert_eq!(config.reservations.ttl, Duration::from_secs(1800));
        assert_eq!(config.placement.lease, Duration::from_secs(900));
        assert!(
            Config::from_lookup(|n| (n == "PLACEMENT_LEASE_SECS").then(|| "0".into())).is_err()
        );
        assert_eq!(
            config.placement.queue_notify_interval,
            Some(Duration::from_secs(300))
        );
        let quiet = Config::from_lookup(|n| (n == "OPS_QUEUE_NOTIFY_SECS").then(|| "0".into()))
            .expect("0 turns the notices off");
        assert_eq!(quiet.placement.queue_notify_interval, None);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = Config::from_lookup(|name| {
            (name == "RATE_LIMIT_PER_SECOND").then(|| "lots".to_owned())
        })
        .expect_err("must refuse");
        assert_eq!(err.name, "RATE_LIMIT_PER_SECOND");
        assert!(err.problem.contains("lots"));
    }

    #[test]
    fn smtp_from_parts() {
        let config = Config::from_lookup(|name| match name {
            "SMTP_HOST" => Some("mail.example.com".into()),
            "SMTP_PASSWORD" => Some("hunter2".into()),
            "OPS_ALERT_EMAILS" => Some("a@example.com, b@example.com".into()),
            _ => None,
        })
        .expect("valid");
        let Some(SmtpConfig::Parts { port, tls, .. }) = &config.notifications.smtp else {
            panic!("expected SMTP parts");
        };
        assert_eq!((*port, *tls), (587, SmtpTls::StartTls));
        assert_eq!(config.notifications.ops_alert_emails.len(), 2);
        assert!(!format!("{config:?}").contains("hunter2"));
        let err = Config::from_lookup(|name| {
            (name == "ALERT_WEBHOOK_URL").then(|| "http://hook".to_owned())
        })
        .expect_err("a webhook needs its secret");
        assert_eq!(err.name, "ALERT_WEBHOOK_SECRET");
    }

    #[test]
    fn webhook_secrets_are_a_comma_separated_list() {
        let config = Config::from_lookup(|name| {
            (name == "STRIPE_WEBHOOK_SECRETS").then(|| "whsec_new, whsec_old,".to_owned())
        })
        .expect("valid");
        let secrets: Vec<&str> = config
            .stripe
            .webhook_secrets
            .iter()
            .map(|s| s.expose_secret())
            .collect();
        assert_eq!(secrets, ["whsec_new", "whsec_old"]);
        assert_eq!(config.stripe.api_base, "https://api.stripe.com/");
        assert!(!format!("{config:?}").contains("whsec_new"));
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::from_lookup(|name| {
            (name == "DATABASE_URL").then(|| "postgres://u:hunter2@db/x".to_owned())
        })
        .expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(config.database.url.expose_secret().contains("hunter2"));
    }
}
