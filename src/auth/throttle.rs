//! Failed-login throttle: at most `MAX_FAILURES` wrong passwords per account *and IP address*
//! in a sliding window without a success. Kept in memory per node; a cluster's limit is
//! therefore per node.
//!
//! Keyed by account and address so that a stranger guessing someone's password locks out only
//! themself, never the owner signing in from elsewhere; and a failure is counted only once the
//! password was actually checked and found wrong, so requests abandoned before their check (or
//! refused for load) cost the account nothing. Guessing from many addresses is slowed by the
//! per-address login rate (`MISSIVE_AUTH_RATE`) and by the hash pool, not by locking the account.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_FAILURES: usize = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept before expired ones are swept, bounding memory against made-up usernames.
const SWEEP_AT: usize = 100_000;

type Key = (String, IpAddr);

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// `Err(retry_after)` when `username` has used up its failures from `addr`.
    pub fn check(&self, username: &str, addr: IpAddr) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap();
        let now = Instant::now();
        let Some(q) = map.get_mut(&(username.to_owned(), addr)) else {
            return Ok(());
        };
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() >= MAX_FAILURES {
            return Err(WINDOW - now.duration_since(q[0]));
        }
        Ok(())
    }

    /// Counts a wrong password for `username` from `addr`.
    pub fn record_failure(&self, username: &str, addr: IpAddr) {
        let mut map = self.failures.lock().unwrap();
        let now = Instant::now();
        if map.len() > SWEEP_AT {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        map.entry((username.to_owned(), addr))
            .or_default()
            .push_back(now);
    }

    /// Forgets `username`'s failures from `addr`.
    pub fn record_success(&self, username: &str, addr: IpAddr) {
        self.failures
            .lock()
            .unwrap()
            .remove(&(username.to_owned(), addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn ten_failures_from_one_address_throttle_that_address_only() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.check("alice", STRANGER).is_ok());
            t.record_failure("alice", STRANGER);
        }
        let wait = t.check("alice", STRANGER).expect_err("throttled");
        assert!(wait <= WINDOW && wait > WINDOW - Duration::from_secs(5));
        assert!(
            t.check("alice", HOME).is_ok(),
            "the owner is not locked out"
        );
        assert!(t.check("bob", STRANGER).is_ok());
    }

    #[test]
    fn an_attempt_never_checked_costs_nothing_and_a_success_forgets_failures() {
        let t = LoginThrottle::default();
        for _ in 0..100 {
            assert!(t.check("alice", HOME).is_ok());
        }
        t.record_failure("alice", HOME);
        t.record_success("alice", HOME);
        assert!(t.failures.lock().unwrap().is_empty());
    }
}
