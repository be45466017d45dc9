//! Work that arrives together, done together (issue 15): many tasks hand items to a
//! [`Batcher`], a few runner tasks take every item waiting (up to a maximum) and do them
//! in one call, typically one statement and one commit, and each caller gets its own
//! item's result back. Nothing waits for a batch to fill: at low load a batch is the
//! one item there is, so it adds no latency, and under load batches grow by themselves
//! while the runners are busy. That is group commit done by the application: the
//! database flushes its WAL and takes its locks once per batch instead of once per item.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

/// Why an item got no result of its own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError<E> {
    /// The batch's call failed: nothing of it happened.
    #[error("{0}")]
    Failed(E),
    #[error("the batch runners have stopped")]
    Stopped,
}

struct Pending<I, O, E> {
    item: I,
    reply: oneshot::Sender<Result<O, E>>,
}

/// Hands items to the runners of one batched call.
pub struct Batcher<I, O, E> {
    queue: mpsc::Sender<Pending<I, O, E>>,
}

impl<I, O, E> Clone for Batcher<I, O, E> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Starts `runners` tasks, each doing one batch of at most `max_batch` items at a
    /// time with `call`, which answers one result per item, in the items' order. The
    /// runners end when every handle is dropped.
    pub fn start<F, Fut>(runners: usize, max_batch: usize, call: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        let runners = runners.max(1);
        let max_batch = max_batch.max(1);
        let (queue, ready) = mpsc::channel(max_batch * runners * 4);
        let ready = Arc::new(Mutex::new(ready));
        let call = Arc::new(call);
        for _ in 0..runners {
            tokio::spawn(run(ready.clone(), max_batch, call.clone()));
        }
        Self { queue }
    }

    /// Does `item` with whichever others are waiting; its own result.
    pub async fn run(&self, item: I) -> Result<O, BatchError<E>> {
        let (reply, result) = oneshot::channel();
        self.queue
            .send(Pending { item, reply })
            .await
            .map_err(|_| BatchError::Stopped)?;
        match result.await {
            Ok(result) => result.map_err(BatchError::Failed),
            Err(_) => Err(BatchError::Stopped),
        }
    }
}

async fn run<I, O, E, F, Fut>(
    ready: Arc<Mutex<mpsc::Receiver<Pending<I, O, E>>>>,
    max_batch: usize,
    call: Arc<F>,
) where
    E: Clone,
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>, E>>,
{
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        // One runner at a time waits for work; it takes all there is and lets the next
        // runner wait while it works.
        let received = ready.lock().await.recv_many(&mut batch, max_batch).await;
        if received == 0 {
            return;
        }
        let (items, replies): (Vec<I>, Vec<_>) = batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        // A caller may have gone (its client hung up): its item is done all the same,
        // as a lone call would have been, so its reply is dropped.
        match call(items).await {
            Ok(results) => {
                debug_assert_eq!(results.len(), replies.len());
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(err) => {
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn items_arriving_together_share_a_call_and_each_gets_its_own_result() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let batcher: Batcher<u32, u32, String> = Batcher::start(1, 64, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                // Slow enough that the others queue behind the first call.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(items.into_iter().map(|i| i * 10).collect())
            }
        });
        let results = futures::future::join_all((0..100).map(|i| batcher.run(i))).await;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), i as u32 * 10);
        }
        let calls = calls.load(Ordering::SeqCst);
        assert!((2..=10).contains(&calls), "{calls} calls for 100 items");
    }

    #[tokio::test]
    async fn a_failed_call_fails_each_item_of_its_batch() {
        let batcher: Batcher<u32, u32, String> =
            Batcher::start(2, 8, |_items: Vec<u32>| async { Err("gone".to_owned()) });
        let results = futures::future::join_all((0..5).map(|i| batcher.run(i))).await;
        for result in results {
            assert!(matches!(result, Err(BatchError::Failed(e)) if e == "gone"));
        }
    }
}
