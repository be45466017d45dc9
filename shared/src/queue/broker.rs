//! Connecting to RabbitMQ (with backoff, until it answers or shutdown is asked for), one
//! connection shared by a process's consumers, and publishing with publisher confirms: a
//! publish returns only once the broker has the message safely, or fails.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use lapin::PublisherConfirm;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use secrecy::ExposeSecret;

use crate::config::BrokerConfig;
use crate::shutdown::Shutdown;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects, retrying with exponential backoff (0.1 s doubling to 5 s, jittered) while
/// the broker is away. `None` when shutdown was requested first.
pub async fn connect(
    config: &BrokerConfig,
    name: &str,
    shutdown: &mut Shutdown,
) -> Option<Connection> {
    let url = config.url.expose_secret().to_owned();
    let attempt = || {
        let url = url.clone();
        let props = ConnectionProperties::default().with_connection_name(name.into());
        // A broker that accepts TCP but never finishes the handshake (out of file
        // descriptors, say) must show up in the logs and be retried, not hang us.
        async move {
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&url, props))
                .await
                .unwrap_or_else(|_| {
                    Err(lapin::Error::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {CONNECT_TIMEOUT:?}"),
                    )))
                })
        }
    };
    let retrying = attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(5))
                .with_jitter()
                .without_max_times(),
        )
        .notify(|err, wait| tracing::warn!(error = %err, retry_in = ?wait, "broker unreachable"));
    tokio::select! {
        connection = retrying => connection.ok(),
        () = shutdown.requested() => None,
    }
}

/// One connection for every consumer of a process, each on channels of its own. lapin
/// drives each connection from a thread of its own: fifteen consumers on fifteen
/// connections were fifteen threads waking the runtime's (futex was 94 % of the workers'
/// system calls under load) and fifteen sets of socket buffers. The outbox relay keeps a
/// connection apart, as RabbitMQ advises for publishers: a connection blocked by a
/// resource alarm must not stop consumers from acking.
#[derive(Clone)]
pub struct SharedConnection {
    inner: Arc<Shared>,
}

struct Shared {
    config: BrokerConfig,
    name: String,
    current: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl SharedConnection {
    /// Connects on first use; `name` is what the broker's connection list shows.
    pub fn new(config: &BrokerConfig, name: &str) -> Self {
        Self {
            inner: Arc::new(Shared {
                config: config.clone(),
                name: name.to_owned(),
                current: tokio::sync::Mutex::new(None),
            }),
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// The connection while it is up; otherwise a new one, connecting with backoff while
    /// the broker is away (the first consumer to find it down reconnects for all).
    /// `None` when shutdown was requested first.
    pub async fn get(&self, shutdown: &mut Shutdown) -> Option<Arc<Connection>> {
        let mut current = self.inner.current.lock().await;
        if let Some(connection) = current.as_ref()
            && connection.status().connected()
        {
            return Some(connection.clone());
        }
        let connection = Arc::new(connect(&self.inner.config, &self.inner.name, shutdown).await?);
        *current = Some(connection.clone());
        Some(connection)
    }

    /// Closes the connection; for when every consumer on it has stopped.
    pub async fn close(&self) {
        if let Some(connection) = self.inner.current.lock().await.take() {
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, connection.close(200, "shutdown".into()))
                .await;
        }
    }
}

/// A channel in confirm mode.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no confirm from the broker within {0:?}")]
    Unconfirmed(Duration),
}

/// What goes on the wire besides the body.
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub message_id: &'a str,
    pub message_type: &'a str,
    pub correlation_id: &'a str,
    pub headers: FieldTable,
    /// Per-message TTL (delay queues).
    pub expiration: Option<Duration>,
}

impl Publisher {
    pub async fn open(connection: &Connection) -> lapin::Result<Self> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Sends without waiting for the confirm; await the returned confirm (in order) to
    /// know the broker has it. Lets a batch share one round trip.
    pub async fn send(
        &self,
        out: Outgoing<'_>,
        body: &[u8],
    ) -> Result<PublisherConfirm, PublishError> {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            // 2 = persistent: written to disk by the broker (quorum queues always are).
            .with_delivery_mode(2)
            .with_message_id(out.message_id.into())
            .with_type(out.message_type.into())
            .with_correlation_id(out.correlation_id.into())
            .with_timestamp(Utc::now().timestamp().max(0) as u64)
            .with_headers(out.headers);
        if let Some(ttl) = out.expiration {
            props = props.with_expiration(ttl.as_millis().max(1).to_string().into());
        }
        Ok(self
            .channel
            .basic_publish(
                out.exchange.into(),
                out.routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?)
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(&self, out: Outgoing<'_>, body: &[u8]) -> Result<(), PublishError> {
        confirmed(self.send(out, body).await?).await
    }
}

pub async fn confirmed(confirm: PublisherConfirm) -> Result<(), PublishError> {
    if confirm.await?.is_ack() {
        Ok(())
    } else {
        Err(PublishError::Nacked)
    }
}

/// A header as text, for the few headers we set.
pub fn header_text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// A header's value as text, whatever AMQP type it arrived as.
pub fn read_header(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    let value = headers?.inner().get(&ShortString::from(key))?;
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}
