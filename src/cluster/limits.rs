//! Send and typing rates that hold for the cluster, without a shared write per message.
//!
//! Each node keeps its own token buckets (governor's GCRA, in `app`), but charges a user's
//! action as many tokens as there are nodes that user's actions may arrive at: the nodes where
//! the user has sockets, learnt from the shared presence at every node heartbeat. A user with
//! sockets on three nodes thus gets a third of the rate on each, the configured rate in all.
//! A node where the user has no socket (a REST call through a balancer) charges as many tokens
//! as there are live nodes, since such calls may be spread over all of them.
//!
//! The price: a change in where a user is connected reaches the other nodes' charges only at
//! their next heartbeat (`MISSIVE_NODE_HEARTBEAT`), and a user with sockets on some nodes who
//! also calls REST through the others can reach up to twice the rate. Both are bounded, and a
//! per-message round trip to Postgres or Redis would cost more than the limit protects.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::domain::UserId;

/// Tokens one action costs on this node: `spread` is the number of nodes where the user has
/// sockets (when this node is one of them), `live_nodes` the nodes of the cluster.
pub fn cost(local_sockets: bool, spread: Option<u32>, live_nodes: usize) -> u32 {
    let n = if local_sockets {
        spread.unwrap_or(1)
    } else {
        live_nodes as u32
    };
    n.max(1)
}

/// Where this node's users are connected, as of the last heartbeat.
pub struct Spread {
    /// This node's users that have sockets on other nodes too: on how many nodes.
    multi: RwLock<HashMap<UserId, u32>>,
    live_nodes: AtomicUsize,
}

impl Default for Spread {
    fn default() -> Self {
        Self {
            multi: RwLock::default(),
            live_nodes: AtomicUsize::new(1),
        }
    }
}

impl Spread {
    /// What a heartbeat found.
    pub fn update(&self, multi: HashMap<UserId, u32>, live_nodes: usize) {
        *self.multi.write().unwrap() = multi;
        self.live_nodes.store(live_nodes.max(1), Ordering::Relaxed);
    }

    /// See [`cost`].
    pub fn cost(&self, user: UserId, local_sockets: bool) -> u32 {
        let spread = self.multi.read().unwrap().get(&user).copied();
        cost(
            local_sockets,
            spread,
            self.live_nodes.load(Ordering::Relaxed),
        )
    }

    pub fn live_nodes(&self) -> usize {
        self.live_nodes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_costs_one_token_per_node_it_may_arrive_at() {
        assert_eq!(cost(true, None, 3), 1, "connected here only");
        assert_eq!(cost(true, Some(3), 3), 3, "connected to three nodes");
        assert_eq!(
            cost(false, None, 3),
            3,
            "REST through a balancer over three nodes"
        );
        assert_eq!(cost(false, None, 0), 1, "never free");
        let s = Spread::default();
        s.update(HashMap::from([(UserId(7), 2)]), 4);
        assert_eq!(s.cost(UserId(7), true), 2);
        assert_eq!(s.cost(UserId(8), true), 1);
        assert_eq!(s.cost(UserId(8), false), 4);
    }
}
