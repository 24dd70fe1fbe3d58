//! Failed-login throttle: at most `MAX_FAILURES` failures per account in a sliding window.
//! Kept in memory per node; a cluster's limit is therefore per node.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_FAILURES: usize = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// `Some(retry_after)` when the account has used up its failures.
    pub fn check(&self, username: &str) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap();
        let now = Instant::now();
        let q = map.get_mut(username)?;
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.is_empty() {
            map.remove(username);
            return None;
        }
        (q.len() >= MAX_FAILURES).then(|| WINDOW - now.duration_since(q[0]))
    }

    pub fn record_failure(&self, username: &str) {
        let mut map = self.failures.lock().unwrap();
        // Bound memory against a flood of made-up usernames.
        if map.len() > 100_000 {
            let now = Instant::now();
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        map.entry(username.to_owned())
            .or_default()
            .push_back(Instant::now());
    }

    pub fn record_success(&self, username: &str) {
        self.failures.lock().unwrap().remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_is_throttled() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES {
            assert!(t.check("alice").is_none());
            t.record_failure("alice");
        }
        let wait = t.check("alice").expect("throttled");
        assert!(wait <= WINDOW && wait > WINDOW - Duration::from_secs(5));
        assert!(t.check("bob").is_none());
    }
}
