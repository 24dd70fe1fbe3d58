//! On Postgres, the other nodes' commits: every `WriteTx` that appends entries sends
//! `NOTIFY missive_stream` inside its transaction (so an announcement exists exactly when the
//! COMMIT succeeded), and this task LISTENs and hands the ranges to the publisher.
//!
//! The LISTEN connection is supervised: when it ends, the node is not ready (`/readyz` 503)
//! until it is back, and then the publisher closes every local socket, since announcements made
//! meanwhile were missed and those sockets must catch up from the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::publisher::Announcement;
use crate::store::{STREAM_CHANNEL, parse_notify_payload};

/// Listens on `url` until the receiver is dropped; `up` says whether it is listening now.
pub fn spawn(url: String, up: Arc<AtomicBool>) -> mpsc::UnboundedReceiver<Announcement> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            match listen(&url).await {
                Ok(mut listener) => {
                    up.store(true, Ordering::SeqCst);
                    if !first && tx.send(Announcement::Lost).is_err() {
                        return;
                    }
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                let ranges = parse_notify_payload(n.payload());
                                if tx.send(Announcement::Committed(ranges)).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {
                                tracing::warn!("stream bus connection lost; reconnecting");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "stream bus failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "stream bus: cannot listen; retrying"),
            }
            up.store(false, Ordering::SeqCst);
            if tx.is_closed() {
                return;
            }
            // Every listen after the first may have missed announcements.
            first = false;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(STREAM_CHANNEL).await?;
    Ok(listener)
}
