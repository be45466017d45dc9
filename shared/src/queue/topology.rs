//! Exchanges and queues, declared in code at start-up (declaring is idempotent).
//!
//! ```text
//! outbox relay ─▶ {p}.events (topic) ──binding──▶ {p}.<queue>  (quorum) ─▶ consumer
//!                      │ alternate                    ▲     │ over delivery limit
//!                      ▼                              │     ▼
//!                 {p}.unrouted                        │   {p}.<queue>.dead ─▶ archiver ─▶ dead_letters table
//!                                                     │
//!   consumer, on a retryable failure ─▶ {p}.<queue>.delay.<n> (per-message TTL) ─┘ (dead-letters back)
//! ```

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::work_queues::WorkQueue;
use crate::config::BrokerConfig;

#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
    /// Number of delay queues per work queue (the retry schedule's length).
    pub delay_levels: usize,
    /// Crash-loop backstop: redeliveries of one message (a worker that dies while
    /// handling it) before the broker itself dead-letters it.
    pub delivery_limit: u32,
    /// Delete queues unused this long (tests only; production queues never expire).
    pub expires: Option<Duration>,
}

/// Redeliveries of one message before the broker dead-letters it: enough to ride out a
/// few worker restarts, few enough that a message that kills its worker stops soon.
const DELIVERY_LIMIT: u32 = 10;

impl Topology {
    pub fn new(config: &BrokerConfig) -> Self {
        Self {
            prefix: config.prefix.clone(),
            delay_levels: config.retry_delays.len(),
            delivery_limit: DELIVERY_LIMIT,
            expires: config.queue_expires,
        }
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn unrouted(&self) -> String {
        format!("{}.unrouted", self.prefix)
    }
    pub fn work(&self, queue: &str) -> String {
        format!("{}.{queue}", self.prefix)
    }
    pub fn delay(&self, queue: &str, level: usize) -> String {
        format!("{}.{queue}.delay.{level}", self.prefix)
    }
    pub fn dead(&self, queue: &str) -> String {
        format!("{}.{queue}.dead", self.prefix)
    }

    /// The broker queues of one work queue: the work queue, its delay queues and its
    /// dead-letter queue.
    pub fn queues_of(&self, queue: &str) -> Vec<String> {
        let mut names = vec![self.work(queue), self.dead(queue)];
        names.extend((0..self.delay_levels).map(|level| self.delay(queue, level)));
        names
    }

    /// The events exchange and its alternate: what the relay publishes to.
    pub async fn declare_exchanges(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        // Fanout: whatever reaches the alternate exchange is kept, whatever its key.
        channel
            .exchange_declare(
                self.unrouted().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                self.unrouted().into(),
                durable_queue(),
                self.quorum_args(|_| {}),
            )
            .await?;
        channel
            .queue_bind(
                self.unrouted().into(),
                self.unrouted().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        // An event no queue is bound to goes to the unrouted queue instead of being
        // dropped silently by the broker.
        args.insert("alternate-exchange".into(), text(&self.unrouted()));
        // Topic: each work queue binds the event types it consumes.
        channel
            .exchange_declare(
                self.events_exchange().into(),
                ExchangeKind::Topic,
                durable,
                args,
            )
            .await
    }

    /// A work queue with its delay queues and its dead-letter queue, and its bindings.
    pub async fn declare_queue(&self, channel: &Channel, queue: &WorkQueue) -> lapin::Result<()> {
        let name = &queue.name;
        channel
            .queue_declare(
                self.dead(name).into(),
                durable_queue(),
                self.quorum_args(|_| {}),
            )
            .await?;
        let work_args = self.quorum_args(|args| {
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongUInt(self.delivery_limit),
            );
            // The broker's own dead-lettering (over the delivery limit) goes to the
            // same dead-letter queue the consumer runtime uses.
            args.insert("x-dead-letter-exchange".into(), text(""));
            args.insert("x-dead-letter-routing-key".into(), text(&self.dead(name)));
            at_least_once(args);
        });
        channel
            .queue_declare(self.work(name).into(), durable_queue(), work_args)
            .await?;
        for level in 0..self.delay_levels {
            let delay_args = self.quorum_args(|args| {
                // No consumer: each message waits out its own expiration (set per
                // message, so jitter works), then is dead-lettered back to the work queue.
                args.insert("x-dead-letter-exchange".into(), text(""));
                args.insert("x-dead-letter-routing-key".into(), text(&self.work(name)));
                at_least_once(args);
            });
            channel
                .queue_declare(self.delay(name, level).into(), durable_queue(), delay_args)
                .await?;
        }
        for binding in &queue.bindings {
            channel
                .queue_bind(
                    self.work(name).into(),
                    self.events_exchange().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    fn quorum_args(&self, extra: impl FnOnce(&mut FieldTable)) -> FieldTable {
        let mut args = FieldTable::default();
        // Quorum: replicated, durable, and counts deliveries (the crash-loop backstop).
        args.insert("x-queue-type".into(), text("quorum"));
        if let Some(expires) = self.expires {
            args.insert(
                "x-expires".into(),
                AMQPValue::LongUInt(expires.as_millis() as u32),
            );
        }
        extra(&mut args);
        args
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Dead-letter with publisher confirms inside the broker, so a message moving to its
/// dead-letter (or back from a delay) queue cannot be lost on the way; the broker
/// requires reject-publish overflow for it.
fn at_least_once(args: &mut FieldTable) {
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// Deletes queues, whatever they hold, ignoring those already gone. For tests and
/// benchmarks that clean up after themselves: every quorum queue holds broker file
/// descriptors and a Raft member, and hundreds of idle ones slow the broker down.
pub async fn delete_queues(
    connection: &lapin::Connection,
    queues: impl IntoIterator<Item = String>,
) {
    for queue in queues {
        // A channel per delete: a failed delete closes its channel.
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .queue_delete(
                    queue.as_str().into(),
                    lapin::options::QueueDeleteOptions::default(),
                )
                .await;
            let _ = channel.close(200, "deleted".into()).await;
        }
    }
}
