//! Failed-login throttle: at most `MAX_FAILURES` attempts per account in a sliding window
//! without a success. Kept in memory per node; a cluster's limit is therefore per node.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_FAILURES: usize = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginThrottle {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// Counts a login attempt before its password is checked, so concurrent attempts cannot all
    /// slip past the limit; `record_success` forgets them. `Err(retry_after)` when the account
    /// has used up its attempts.
    pub fn attempt(&self, username: &str) -> Result<(), Duration> {
        let mut map = self.attempts.lock().unwrap();
        let now = Instant::now();
        // Bound memory against a flood of made-up (but valid) usernames.
        if map.len() > 100_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let q = map.entry(username.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() >= MAX_FAILURES {
            return Err(WINDOW - now.duration_since(q[0]));
        }
        q.push_back(now);
        Ok(())
    }

    pub fn record_success(&self, username: &str) {
        self.attempts.lock().unwrap().remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_attempt_without_a_success_is_throttled() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.attempt("alice").is_ok());
        }
        let wait = t.attempt("alice").expect_err("throttled");
        assert!(wait <= WINDOW && wait > WINDOW - Duration::from_secs(5));
        assert!(t.attempt("bob").is_ok());
        t.record_success("bob");
        assert!(!t.attempts.lock().unwrap().contains_key("bob"));
    }
}
