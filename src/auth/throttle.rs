//! Failed-login throttle: at most `MAX_FAILURES` wrong passwords per account *and IP address*
//! in a sliding window without a success. This is the rule, and the in-memory record of a
//! single (SQLite) node; a cluster keeps the failures in its shared state (`cluster::state`),
//! so that the limit holds for the cluster, not per node.
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

pub const MAX_FAILURES: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys kept before expired ones are swept, bounding memory against made-up usernames.
const SWEEP_AT: usize = 100_000;

type Key = (String, IpAddr);

/// `Err(retry_after)` when `failures` wrong passwords in the window (the oldest at `oldest`,
/// Unix ms) have used up the allowance at `now`.
pub fn verdict(failures: usize, oldest: Option<i64>, now: i64) -> Result<(), Duration> {
    match oldest {
        Some(oldest) if failures >= MAX_FAILURES => {
            let elapsed = Duration::from_millis((now - oldest).max(0) as u64);
            Err(WINDOW.saturating_sub(elapsed).max(Duration::from_millis(1)))
        }
        _ => Ok(()),
    }
}

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
        let oldest = q
            .front()
            .map(|t| -(now.duration_since(*t).as_millis() as i64));
        verdict(q.len(), oldest, 0)
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
    fn the_verdict_counts_failures_in_the_window_and_waits_for_the_oldest_to_leave_it() {
        assert!(verdict(MAX_FAILURES - 1, Some(0), 1_000).is_ok());
        assert!(verdict(0, None, 1_000).is_ok());
        let wait = verdict(MAX_FAILURES, Some(60_000), 120_000).unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
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
