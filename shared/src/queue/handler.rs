//! The consumer runtime for one kind of work. A worker is a [`Handler`]: it names its
//! queue and may adjust its retry policy; the runtime does the rest: parse the envelope
//! (unparseable → dead-letter at once), skip a message its inbox has seen, run the
//! handler under a timeout, then ack, schedule a retry through a delay queue, or
//! dead-letter with the error, according to how the failure classifies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::types::FieldTable;
use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;
use tracing::field::{Empty, display};
use uuid::Uuid;

use super::broker::{
    Outgoing, PublishError, Publisher, SharedConnection, header_text, read_header,
};
use super::consume::{self, Process, Settle, Spec};
use super::envelope::Envelope;
use super::inbox::{self, Inbox, InboxError};
use super::retry::{Next, RetryPolicy};
use super::topology::Topology;
use super::work_queues::WorkQueue;
use crate::shutdown::Shutdown;

/// How a handler failed, which decides what happens to the message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again later (a timeout, a 5xx, the database away).
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// Will never succeed (bad data): dead-letter now.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    /// Try again after this long, as the other side asked (429, Retry-After).
    #[error("{1:#}")]
    RetryAfter(Duration, anyhow::Error),
}

impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        Self::Transient(err.into())
    }
}

impl From<InboxError> for HandlerError {
    fn from(err: InboxError) -> Self {
        Self::Transient(err.into())
    }
}

pub trait Handler: Send + Sync + 'static {
    fn queue(&self) -> WorkQueue;

    fn retry_policy(&self, default: RetryPolicy) -> RetryPolicy {
        default
    }

    /// How many deliveries it holds at once (`AMQP_PREFETCH` unless it knows better).
    /// A delivery held but not yet worked on still counts against the broker's delivery
    /// limit when the process dies, so a handler that can only work on a few at a time
    /// should hold no more.
    fn prefetch(&self, default: u16) -> u16 {
        default
    }

    /// Whether the handler keeps its own record of what it has done, which makes a
    /// second delivery of a message harmless (the email worker's `emails_sent` claims):
    /// then the runtime neither looks the message up in the inbox nor records it there.
    fn deduplicates_itself(&self) -> bool {
        false
    }

    /// The longest one message may take before it counts as a transient failure.
    fn timeout(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// Does the work. Writes go through `ctx.begin()` / `ctx.commit(tx)`, which records
    /// the message in the inbox in the same transaction.
    fn handle(
        &self,
        ctx: &mut Context,
        message: &Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// What a handler gets besides the message.
pub struct Context {
    pool: PgPool,
    consumer: String,
    message_id: Uuid,
    committed: bool,
}

impl Context {
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn begin(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }

    /// Records the message as processed and commits. When a concurrent delivery of the
    /// same message committed first, rolls back instead: its effects happen once.
    pub async fn commit(&mut self, mut tx: Transaction<'static, Postgres>) -> sqlx::Result<()> {
        if inbox::record(&mut tx, &self.consumer, self.message_id).await? {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        self.committed = true;
        Ok(())
    }

    /// The inbox row's consumer and message id, for a handler whose last word is one
    /// autocommitted statement: it inserts the row itself (`ON CONFLICT DO NOTHING`) in
    /// that statement, a round trip instead of another statement and commit (issue 15),
    /// and then calls [`Context::recorded`]. Only for a statement that is harmless when
    /// a concurrent delivery of the same message runs it too (a read).
    pub fn inbox_row(&self) -> (&str, Uuid) {
        (&self.consumer, self.message_id)
    }

    /// Says the message's inbox row was written by the handler's own statement.
    pub fn recorded(&mut self) {
        self.committed = true;
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeeded,
    Duplicate,
    Retried,
    DeadLettered,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Duplicate => "duplicate",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

struct Runtime<H> {
    handler: H,
    pool: PgPool,
    inbox: Inbox,
    topology: Topology,
    queue: WorkQueue,
    policy: RetryPolicy,
}

/// Consumes `handler`'s queue until shutdown.
pub async fn run<H: Handler>(
    handler: H,
    pool: PgPool,
    broker: &SharedConnection,
    topology: Topology,
    shutdown: Shutdown,
) {
    let config = broker.config();
    let queue = handler.queue();
    let policy = handler.retry_policy(RetryPolicy {
        delays: config.retry_delays.clone(),
        max_attempts: config.max_attempts,
        jitter: 0.2,
    });
    let spec = Spec {
        queue: topology.work(&queue.name),
        prefetch: handler.prefetch(config.prefetch),
    };
    let runtime = Arc::new(Runtime {
        handler,
        inbox: Inbox::start(pool.clone(), &queue.name),
        pool,
        topology,
        queue,
        policy,
    });
    consume::run(broker, spec, runtime, shutdown).await;
}

impl<H: Handler> Process for Runtime<H> {
    async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        self.topology.declare_exchanges(channel).await?;
        self.topology.declare_queue(channel, &self.queue).await
    }

    async fn process(&self, delivery: &Delivery, publisher: Publisher) -> Settle {
        let queue = self.queue.name.clone();
        metrics::counter!("cartwright_messages_consumed_total", "queue" => queue.clone())
            .increment(1);
        let started = Instant::now();
        // Every line logged while the message is handled, the handler's own included,
        // says which message it is about (filled in once the envelope is read).
        let span = tracing::info_span!(
            "message",
            queue = %queue,
            message_id = Empty,
            message_type = Empty,
            correlation_id = Empty,
            attempt = Empty,
        );
        let outcome = self
            .dispatch(delivery, &publisher)
            .instrument(span.clone())
            .await;
        metrics::histogram!("cartwright_handler_seconds", "queue" => queue.clone())
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(outcome) => {
                metrics::counter!("cartwright_messages_total", "queue" => queue, "outcome" => outcome.label())
                    .increment(1);
                // An ack lost with the connection means a redelivery; the inbox makes
                // that harmless.
                Settle::Ack
            }
            Err(err) => {
                // Neither done nor safely rescheduled: give it back to the broker. Its
                // delivery limit dead-letters a message that keeps coming back.
                span.in_scope(|| {
                    tracing::warn!(error = %err, "could not settle a message; requeueing it");
                });
                Settle::Requeue
            }
        }
    }
}

impl<H: Handler> Runtime<H> {
    async fn dispatch(
        &self,
        delivery: &Delivery,
        publisher: &Publisher,
    ) -> Result<Outcome, Unsettled> {
        let envelope = match Envelope::parse(&delivery.data) {
            Ok(envelope) => envelope,
            Err(err) => {
                let error = format!("unparseable message: {err}");
                self.dead_letter(publisher, delivery, &delivery.data, None, &error, 1)
                    .await?;
                return Ok(Outcome::DeadLettered);
            }
        };
        let span = tracing::Span::current();
        span.record("message_id", display(envelope.id));
        span.record("message_type", display(&envelope.message_type));
        span.record("correlation_id", display(&envelope.correlation_id));
        // The first delivery is attempt 1.
        span.record("attempt", envelope.attempt + 1);
        let own_record = self.handler.deduplicates_itself();
        if !own_record {
            match self.inbox.seen(envelope.id).await {
                Ok(true) => return Ok(Outcome::Duplicate),
                Ok(false) => {}
                Err(err) => {
                    return self
                        .failed(publisher, delivery, &envelope, HandlerError::from(err))
                        .await;
                }
            }
        }

        let mut ctx = Context {
            pool: self.pool.clone(),
            consumer: self.queue.name.clone(),
            message_id: envelope.id,
            committed: own_record,
        };
        let timeout = self.handler.timeout();
        let result =
            match tokio::time::timeout(timeout, self.handler.handle(&mut ctx, &envelope)).await {
                Ok(result) => result,
                Err(_) => Err(HandlerError::Transient(anyhow::anyhow!(
                    "handler took longer than {timeout:?}"
                ))),
            };
        match result {
            Ok(()) if ctx.committed => Ok(Outcome::Succeeded),
            Ok(()) => match self.inbox.record(envelope.id).await {
                Ok(()) => Ok(Outcome::Succeeded),
                Err(err) => {
                    self.failed(publisher, delivery, &envelope, HandlerError::from(err))
                        .await
                }
            },
            Err(err) => self.failed(publisher, delivery, &envelope, err).await,
        }
    }

    async fn failed(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        envelope: &Envelope,
        err: HandlerError,
    ) -> Result<Outcome, Unsettled> {
        let error = err.to_string();
        let next = match &err {
            HandlerError::Permanent(_) => Next::DeadLetter,
            HandlerError::Transient(_) => self.policy.next(envelope.attempt, None),
            HandlerError::RetryAfter(after, _) => self.policy.next(envelope.attempt, Some(*after)),
        };
        let deliveries = envelope.attempt + 1;
        match next {
            Next::Retry { level, delay } => {
                tracing::warn!(retry_in = ?delay, %error, "handler failed; retrying later");
                let mut again = envelope.clone();
                again.attempt += 1;
                let routing_key = self.topology.delay(&self.queue.name, level);
                publisher
                    .publish(
                        Outgoing {
                            exchange: "",
                            routing_key: &routing_key,
                            message_id: &envelope.id.to_string(),
                            message_type: &envelope.message_type,
                            correlation_id: &envelope.correlation_id,
                            headers: failure_headers(
                                delivery,
                                &self.queue.name,
                                &error,
                                deliveries,
                            ),
                            expiration: Some(delay),
                        },
                        &again.to_bytes(),
                    )
                    .await?;
                Ok(Outcome::Retried)
            }
            Next::DeadLetter => {
                self.dead_letter(
                    publisher,
                    delivery,
                    &delivery.data,
                    Some(envelope),
                    &error,
                    deliveries,
                )
                .await?;
                Ok(Outcome::DeadLettered)
            }
        }
    }

    async fn dead_letter(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        body: &[u8],
        envelope: Option<&Envelope>,
        error: &str,
        deliveries: u32,
    ) -> Result<(), Unsettled> {
        tracing::error!(attempts = deliveries, %error, "message dead-lettered");
        let routing_key = self.topology.dead(&self.queue.name);
        let id = envelope.map(|e| e.id.to_string()).unwrap_or_default();
        publisher
            .publish(
                Outgoing {
                    exchange: "",
                    routing_key: &routing_key,
                    message_id: &id,
                    message_type: envelope.map_or("", |e| e.message_type.as_str()),
                    correlation_id: envelope.map_or("", |e| e.correlation_id.as_str()),
                    headers: failure_headers(delivery, &self.queue.name, error, deliveries),
                    expiration: None,
                },
                body,
            )
            .await?;
        Ok(())
    }
}

/// The message could not be acked, retried or dead-lettered (the broker went away).
type Unsettled = PublishError;

/// Headers a failed message carries onward: the first failure is kept from earlier
/// attempts, the rest describe this one.
fn failure_headers(delivery: &Delivery, queue: &str, error: &str, deliveries: u32) -> FieldTable {
    let incoming = delivery.properties.headers().as_ref();
    let now = Utc::now().to_rfc3339();
    let first = read_header(incoming, "x-first-failure").unwrap_or_else(|| now.clone());
    let mut headers = FieldTable::default();
    headers.insert("x-first-failure".into(), header_text(&first));
    headers.insert("x-last-failure".into(), header_text(&now));
    let error: String = error.chars().take(2000).collect();
    headers.insert("x-last-error".into(), header_text(&error));
    headers.insert("x-attempts".into(), header_text(&deliveries.to_string()));
    headers.insert("x-queue".into(), header_text(queue));
    headers
}
