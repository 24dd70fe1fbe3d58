//! The group-commit write path for messages.
//!
//! Senders hand their message to one writer task through a channel and wait on a oneshot. The
//! writer takes everything queued (up to `MAX_BATCH`), stores it in one transaction and answers
//! each sender only after COMMIT returns. One fsync then covers the whole batch, which is what
//! makes SQLite fast under concurrent load; alone, a send pays the same as without batching.
//!
//! The batch commits through a `WriteTx`, which hands the new messages to the publisher in
//! commit order (and, on Postgres, announces them to the other nodes with the COMMIT).
//!
//! If a batch fails, its messages are retried one transaction each, so one bad message cannot
//! sink its neighbours.

use tokio::sync::{mpsc, oneshot};

use super::Store;
use super::messages::{self, NewMessage};
use crate::domain::Message;
use crate::error::{AppError, AppResult};

const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

/// A stored message, and whether this call stored it (false: an idempotent repeat).
pub type Appended = (Message, bool);

/// A message handed to the writer, to be awaited for its commit.
pub struct Pending(oneshot::Receiver<AppResult<Appended>>);

impl Pending {
    pub async fn committed(self) -> AppResult<Appended> {
        self.0.await.map_err(|_| AppError::Unavailable)?
    }
}

struct Job {
    msg: NewMessage,
    reply: oneshot::Sender<AppResult<Appended>>,
}

#[derive(Clone)]
pub struct WriterHandle {
    tx: Option<mpsc::Sender<Job>>,
}

impl WriterHandle {
    /// A handle not yet attached to a writer (only during `Store::connect`).
    pub(super) fn detached() -> Self {
        Self { tx: None }
    }

    /// Queues a message for storage; messages submitted one after another from one task are
    /// stored in that order. Await `Pending::committed` for the durable result.
    pub async fn submit(&self, msg: NewMessage) -> AppResult<Pending> {
        let tx = self.tx.as_ref().ok_or(AppError::Unavailable)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Job { msg, reply })
            .await
            .map_err(|_| AppError::Unavailable)?;
        Ok(Pending(rx))
    }
}

/// Starts the writer task. With `batching` off every message commits alone (for measurement).
pub(super) fn spawn(store: Store, batching: bool) -> WriterHandle {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    let max = if batching { MAX_BATCH } else { 1 };
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(max);
        while rx.recv_many(&mut batch, max).await > 0 {
            metrics::histogram!("missive_commit_batch_size").record(batch.len() as f64);
            commit_batch(&store, std::mem::take(&mut batch)).await;
        }
    });
    WriterHandle { tx: Some(tx) }
}

async fn commit_batch(store: &Store, jobs: Vec<Job>) {
    let results: Vec<AppResult<Appended>> = match store_all(store, &jobs).await {
        Ok(results) => results,
        Err(e) if jobs.len() == 1 => vec![Err(e)],
        Err(e) => {
            // The cause, not the client-facing "internal error" (database errors name no body).
            let cause = match &e {
                AppError::Internal(inner) => format!("{inner:#}"),
                other => other.to_string(),
            };
            tracing::warn!(error = %cause, size = jobs.len(), "batch failed; retrying its messages one by one");
            let mut results = Vec::with_capacity(jobs.len());
            for job in &jobs {
                let result = store_all(store, std::slice::from_ref(job)).await;
                results.push(result.and_then(|mut r| r.remove(0)));
            }
            results
        }
    };
    for (job, result) in jobs.into_iter().zip(results) {
        let _ = job.reply.send(result);
    }
}

/// Stores what it can of `jobs` in one transaction; per job, its message or why it was refused.
/// `Err` only when the transaction itself failed.
async fn store_all(store: &Store, jobs: &[Job]) -> AppResult<Vec<AppResult<Appended>>> {
    let batch: Vec<&NewMessage> = jobs.iter().map(|j| &j.msg).collect();
    let mut w = store.begin_write().await?;
    let out = messages::append_batch(&mut w.tx, store.backend, &batch).await?;
    w.record(out.iter().filter_map(|r| match r {
        Ok((message, true)) => Some(message.clone()),
        _ => None,
    }));
    w.commit().await?;
    Ok(out)
}
