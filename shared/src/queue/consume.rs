//! The consuming loop under every consumer: connect (retrying while the broker is
//! away), declare, consume with a bounded prefetch and as many deliveries in flight,
//! reconnect when the connection drops, and on shutdown stop taking deliveries and
//! finish those in flight before closing.

use std::sync::Arc;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::Semaphore;

use super::broker::{self, Publisher};
use crate::config::BrokerConfig;
use crate::shutdown::Shutdown;

/// What a consumer does with each delivery; it must ack or nack it.
pub trait Process: Send + Sync + 'static {
    /// Declares what the consumer needs, after each (re)connect.
    fn declare(&self, channel: &Channel) -> impl Future<Output = lapin::Result<()>> + Send;
    fn process(&self, delivery: Delivery, publisher: Publisher) -> impl Future<Output = ()> + Send;
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
    config: &BrokerConfig,
    spec: Spec,
    processor: Arc<P>,
    mut shutdown: Shutdown,
) {
    loop {
        let Some(connection) = broker::connect(config, &spec.queue, &mut shutdown).await else {
            return;
        };
        tracing::info!(queue = %spec.queue, "consuming");
        match session(&connection, &spec, &processor, &mut shutdown).await {
            Ended::Shutdown => {
                let _ = connection.close(200, "shutdown".into()).await;
                tracing::info!(queue = %spec.queue, "consumer stopped");
                return;
            }
            Ended::Lost(reason) => {
                tracing::warn!(queue = %spec.queue, %reason, "connection lost; reconnecting");
                let _ = connection.close(200, "reconnecting".into()).await;
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
    let in_flight = Arc::new(Semaphore::new(usize::from(spec.prefetch.max(1))));
    loop {
        tokio::select! {
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        return Ended::Lost("semaphore closed".into());
                    };
                    let processor = processor.clone();
                    let publisher = publisher.clone();
                    tokio::spawn(async move {
                        processor.process(delivery, publisher).await;
                        drop(permit);
                    });
                }
                Some(Err(err)) => return Ended::Lost(err.to_string()),
                None => return Ended::Lost("the broker cancelled the consumer".into()),
            },
            () = shutdown.requested() => {
                let _ = channel
                    .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                    .await;
                // Every permit back means every delivery in flight has been acked.
                let _ = in_flight.acquire_many(u32::from(spec.prefetch.max(1))).await;
                return Ended::Shutdown;
            }
        }
    }
}
