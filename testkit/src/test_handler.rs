//! A handler for testing the consumer runtime itself: it records every attempt (outside
//! any transaction, so failed ones count too) and writes one effect row per success in
//! the runtime's transaction, which is what "exactly once" is checked against.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cartwright_shared::queue::envelope::Envelope;
use cartwright_shared::queue::handler::{Context, Handler, HandlerError};
use cartwright_shared::queue::work_queues::WorkQueue;
use sqlx::PgPool;

pub const QUEUE: &str = "test-work";
pub const EVENT: &str = "test.event";

pub fn queue() -> WorkQueue {
    WorkQueue::new(QUEUE, &[EVENT])
}

#[derive(Clone)]
pub enum Behaviour {
    /// Succeeds after holding its transaction open this long.
    Slow(Duration),
    /// Fails transiently on the first n deliveries of each message, then succeeds.
    FailFirst(u32),
    /// Fails transiently while the flag is set.
    FailWhile(Arc<AtomicBool>),
    /// Holds the transaction of this aggregate's messages open this long; the others
    /// succeed at once.
    SlowAggregate(&'static str, Duration),
}

pub struct TestHandler {
    pub behaviour: Behaviour,
}

pub async fn create_tables(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS test_attempts (message_id UUID, attempt INT, at TIMESTAMPTZ DEFAULT clock_timestamp());
         CREATE TABLE IF NOT EXISTS test_effects (message_id UUID, at TIMESTAMPTZ DEFAULT clock_timestamp());",
    )
    .execute(pool)
    .await
    .expect("test tables");
}

impl Handler for TestHandler {
    fn queue(&self) -> WorkQueue {
        queue()
    }

    async fn handle(&self, ctx: &mut Context, message: &Envelope) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO test_attempts (message_id, attempt) VALUES ($1, $2)")
            .bind(message.id)
            .bind(message.attempt as i32)
            .execute(ctx.pool())
            .await?;
        match &self.behaviour {
            Behaviour::FailFirst(n) if message.attempt < *n => {
                return Err(HandlerError::Transient(anyhow::anyhow!(
                    "planned failure {} of {n}",
                    message.attempt + 1
                )));
            }
            Behaviour::FailWhile(flag) if flag.load(Ordering::SeqCst) => {
                return Err(HandlerError::Transient(anyhow::anyhow!(
                    "the test says fail"
                )));
            }
            _ => {}
        }
        let mut tx = ctx.begin().await?;
        sqlx::query("INSERT INTO test_effects (message_id) VALUES ($1)")
            .bind(message.id)
            .execute(&mut *tx)
            .await?;
        match &self.behaviour {
            Behaviour::Slow(hold) => tokio::time::sleep(*hold).await,
            Behaviour::SlowAggregate(aggregate, hold) if message.correlation_id == *aggregate => {
                tokio::time::sleep(*hold).await;
            }
            _ => {}
        }
        ctx.commit(tx).await?;
        Ok(())
    }
}
