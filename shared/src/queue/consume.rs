//! The consuming loop under every consumer: open its channels on the process's shared
//! connection (which reconnects while the broker is away), declare, consume with a
//! bounded prefetch and as many deliveries in flight, settle each delivery as its
//! processing says, start again when the channel or connection drops, and on shutdown
//! stop taking deliveries and finish those in flight before closing its channel.
//!
//! Acks go out in runs ([`Acks`]): one `basic.ack` with `multiple` settles every
//! finished delivery up to the oldest one still in flight. A quorum queue writes each
//! settlement command to its log, so a run of them is one entry instead of many.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::{Semaphore, mpsc};

use super::broker::{Publisher, SharedConnection};
use crate::shutdown::Shutdown;

/// How long a consumer waits before it opens its channels again on a connection that is
/// still up: what closed them (a queue declared with other arguments) would close them
/// again at once.
const CHANNEL_RETRY: Duration = Duration::from_secs(1);

/// What becomes of a delivery once it has been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done with (succeeded, or rescheduled or dead-lettered by publishing it onward).
    Ack,
    /// Neither: back to the queue (its delivery limit stops one that keeps coming back).
    Requeue,
}

/// What a consumer does with each delivery.
pub trait Process: Send + Sync + 'static {
    /// Declares what the consumer needs, after each (re)connect.
    fn declare(&self, channel: &Channel) -> impl Future<Output = lapin::Result<()>> + Send;
    fn process(
        &self,
        delivery: &Delivery,
        publisher: Publisher,
    ) -> impl Future<Output = Settle> + Send;
}

pub struct Spec {
    /// The full queue name.
    pub queue: String,
    pub prefetch: u16,
}

enum Ended {
    Shutdown,
    Lost(String),
}

pub async fn run<P: Process>(
    broker: &SharedConnection,
    spec: Spec,
    processor: Arc<P>,
    mut shutdown: Shutdown,
) {
    loop {
        let Some(connection) = broker.get(&mut shutdown).await else {
            return;
        };
        tracing::info!(queue = %spec.queue, "consuming");
        match session(&connection, &spec, &processor, &mut shutdown).await {
            Ended::Shutdown => {
                tracing::info!(queue = %spec.queue, "consumer stopped");
                return;
            }
            Ended::Lost(reason) => {
                tracing::warn!(queue = %spec.queue, %reason, "consumer lost its channel; starting again");
                if connection.status().connected() {
                    tokio::select! {
                        () = tokio::time::sleep(CHANNEL_RETRY) => {}
                        () = shutdown.requested() => return,
                    }
                }
            }
        }
    }
}

async fn session<P: Process>(
    connection: &Connection,
    spec: &Spec,
    processor: &Arc<P>,
    shutdown: &mut Shutdown,
) -> Ended {
    let setup = async {
        let publisher = Publisher::open(connection).await?;
        processor.declare(publisher.channel()).await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(spec.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                spec.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((publisher, channel, consumer))
    };
    let (publisher, channel, mut consumer) = match setup.await {
        Ok(parts) => parts,
        Err(err) => return Ended::Lost(err.to_string()),
    };
    let window = u32::from(spec.prefetch.max(1));
    let in_flight = Arc::new(Semaphore::new(window as usize));
    let (finished, mut settle) = mpsc::unbounded_channel::<(u64, Settle)>();
    let mut acks = Acks {
        window: window as usize,
        ..Acks::default()
    };
    loop {
        tokio::select! {
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        return Ended::Lost("semaphore closed".into());
                    };
                    acks.received(delivery.delivery_tag);
                    let processor = processor.clone();
                    let publisher = publisher.clone();
                    let finished = finished.clone();
                    tokio::spawn(async move {
                        let outcome = processor.process(&delivery, publisher).await;
                        let _ = finished.send((delivery.delivery_tag, outcome));
                        drop(permit);
                    });
                }
                Some(Err(err)) => return Ended::Lost(err.to_string()),
                None => return Ended::Lost("the broker cancelled the consumer".into()),
            },
            Some(first) = settle.recv() => {
                if let Err(err) = acks.settle(&channel, first, &mut settle).await {
                    return Ended::Lost(err.to_string());
                }
            }
            () = shutdown.requested() => {
                let _ = channel
                    .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                    .await;
                // Every permit back means every delivery in flight has been processed
                // and its outcome sent; settle them all before the connection closes.
                let _ = in_flight.acquire_many(window).await;
                if let Ok(first) = settle.try_recv() {
                    let _ = acks.settle(&channel, first, &mut settle).await;
                }
                // Closing waits for the broker's close-ok, so the acks above have reached
                // it before the process closes the connection.
                let _ = channel.close(200, "shutdown".into()).await;
                let _ = publisher.channel().close(200, "shutdown".into()).await;
                return Ended::Shutdown;
            }
        }
    }
}

/// Delivery tags of one channel: those in flight, and those finished but not yet acked
/// because an older one is still in flight.
#[derive(Default)]
struct Acks {
    in_flight: BTreeSet<u64>,
    finished: BTreeSet<u64>,
    /// The prefetch: finished deliveries not yet acked still count against it.
    window: usize,
}

impl Acks {
    fn received(&mut self, tag: u64) {
        self.in_flight.insert(tag);
    }

    /// Settles `first` and every outcome already waiting behind it: requeues one by one,
    /// then one ack for the run of finished tags at the front.
    async fn settle(
        &mut self,
        channel: &Channel,
        first: (u64, Settle),
        waiting: &mut mpsc::UnboundedReceiver<(u64, Settle)>,
    ) -> lapin::Result<()> {
        let mut next = Some(first);
        while let Some((tag, outcome)) = next {
            match outcome {
                Settle::Ack => {
                    self.finished.insert(tag);
                }
                Settle::Requeue => {
                    self.in_flight.remove(&tag);
                    let requeue = BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    };
                    channel.basic_nack(tag, requeue).await?;
                }
            }
            next = waiting.try_recv().ok();
        }
        let mut upto = None;
        while let Some(&oldest) = self.in_flight.first() {
            if !self.finished.remove(&oldest) {
                break;
            }
            self.in_flight.pop_first();
            upto = Some(oldest);
        }
        if let Some(tag) = upto {
            channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await?;
        }
        // A slow delivery at the front must not hold the window shut behind it: once
        // half of it waits on that one, the finished ones are acked one by one.
        if self.finished.len() * 2 >= self.window {
            for tag in std::mem::take(&mut self.finished) {
                self.in_flight.remove(&tag);
                channel.basic_ack(tag, BasicAckOptions::default()).await?;
            }
        }
        Ok(())
    }
}
