//! A connection's send order. A transport may run each request's handler as its own task
//! (the Socket.IO server does), so two sends from one socket could commit in either order. A send takes
//! a [`Ticket`] synchronously, in arrival order, and waits for its turn only to hand its message
//! to the writer; the writer then keeps the order, so sends still pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// Hands out tickets in arrival order and lets each go in that order.
pub struct Sequencer {
    next_ticket: AtomicU64,
    turn: watch::Sender<u64>,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self {
            next_ticket: AtomicU64::new(0),
            turn: watch::Sender::new(0),
        }
    }
}

impl Sequencer {
    /// The next place in line; take it synchronously, when the request arrives.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        Ticket {
            n: self.next_ticket.fetch_add(1, Ordering::SeqCst),
            seq: self.clone(),
        }
    }
}

/// A place in a connection's send order; dropping it lets the next send go.
pub struct Ticket {
    n: u64,
    seq: Arc<Sequencer>,
}

impl Ticket {
    /// Waits until every earlier ticket has been dropped.
    pub async fn wait_turn(&self) {
        let mut rx = self.seq.turn.subscribe();
        let _ = rx.wait_for(|&turn| turn >= self.n).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let n = self.n;
        // Tickets are dropped in order (each waits its turn first), so this only moves forward.
        self.seq.turn.send_modify(|turn| *turn = (*turn).max(n + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tickets_go_in_the_order_they_were_taken() {
        let seq = Arc::new(Sequencer::default());
        let first = seq.ticket();
        let second = seq.ticket();
        let waiting = tokio::spawn(async move {
            second.wait_turn().await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second went before the first");
        first.wait_turn().await;
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the second goes once the first is done")
            .unwrap();
    }
}
