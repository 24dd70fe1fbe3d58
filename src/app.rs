//! The application state every HTTP handler and socket handler shares, and the rate limiters.

use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::password::Hasher;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::Tokens;
use crate::chat::Delivery;
use crate::chat::presence::PresenceTracker;
use crate::config::Config;
use crate::domain::UserId;
use crate::error::{AppError, AppResult};
use crate::store::Store;

/// Cheap to clone: one `Arc` around everything.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub store: Store,
    pub tokens: Tokens,
    pub hasher: Hasher,
    pub login_throttle: LoginThrottle,
    /// `None` when `MISSIVE_SEND_RATE=0`.
    pub send_limiter: Option<UserLimiter>,
    pub typing_limiter: UserLimiter,
    /// Set once the Socket.IO layer is built (it needs the app as its state first).
    delivery: OnceLock<Arc<dyn Delivery>>,
    pub presence: PresenceTracker,
    pub metrics: PrometheusHandle,
    /// Messages delivered live since start (for `/admin`'s messages_per_second).
    messages: AtomicU64,
    /// Whether this node hears the other nodes' commits (always, on a single SQLite node);
    /// `/readyz` fails while it does not.
    pub bus_up: Arc<AtomicBool>,
    /// Notifications (the VAPID key), set once the notifier starts.
    pub push: OnceLock<Arc<crate::notify::Push>>,
    /// Socket sends in flight, and whether a shutdown stopped taking new ones.
    pub drain: Drain,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        tokens: Tokens,
        metrics: PrometheusHandle,
    ) -> anyhow::Result<Self> {
        let send_limiter = NonZeroU32::new(config.send_rate)
            .map(|rate| UserLimiter::new(rate, rate.saturating_mul(NonZeroU32::new(2).unwrap())));
        let five = NonZeroU32::new(5).unwrap();
        Ok(Self(Arc::new(AppInner {
            presence: PresenceTracker::new(config.presence_grace),
            config,
            store,
            tokens,
            hasher: Hasher::new()?,
            login_throttle: LoginThrottle::default(),
            send_limiter,
            typing_limiter: UserLimiter::new(five, five),
            delivery: OnceLock::new(),
            metrics,
            messages: AtomicU64::new(0),
            bus_up: Arc::new(AtomicBool::new(true)),
            push: OnceLock::new(),
            drain: Drain::default(),
        })))
    }

    pub fn set_delivery(&self, delivery: Arc<dyn Delivery>) {
        let _ = self.0.delivery.set(delivery);
    }

    /// Counts stream entries the publisher delivered live.
    pub fn count_messages(&self, n: u64) {
        self.0.messages.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("missive_messages_total").increment(n);
    }

    pub fn messages_total(&self) -> u64 {
        self.0.messages.load(Ordering::Relaxed)
    }

    /// Live delivery of everything but stream entries, across every node.
    pub fn delivery(&self) -> &dyn Delivery {
        self.0
            .delivery
            .get()
            .expect("delivery is set before the server accepts connections")
            .as_ref()
    }
}

/// A per-user token bucket (governor's GCRA).
pub struct UserLimiter(DefaultKeyedRateLimiter<UserId>);

impl UserLimiter {
    fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self(governor::RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        ))
    }

    /// Drops the state of keys whose bucket is full again (they would be allowed anyway).
    pub fn forget_idle(&self) {
        self.0.retain_recent();
        self.0.shrink_to_fit();
    }

    /// `rate_limited` with the wait until the next allowed call.
    pub fn check(&self, user: UserId) -> AppResult<()> {
        self.0.check_key(&user).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            AppError::RateLimited {
                retry_after_ms: (wait.as_millis() as u64).max(1),
            }
        })
    }
}

/// Sends in flight over sockets, so that a shutdown lets each one commit and be acked before
/// the sockets close (REST requests in flight are awaited by the HTTP server itself).
#[derive(Clone, Default)]
pub struct Drain(Arc<DrainInner>);

#[derive(Default)]
struct DrainInner {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held from a send's arrival until its ack is queued.
pub struct InFlight(Drain);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// A send may start, unless a shutdown began (then it is refused `unavailable`, and the
    /// client sends it again to the node it reconnects to).
    pub fn enter(&self) -> Option<InFlight> {
        // Counted before the flag is read: a shutdown that set the flag either sees this
        // send in the count or this send sees the flag.
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self.clone());
        (!self.0.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Refuses new sends and waits until those in flight are acked.
    pub async fn drain(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.0.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod drain_tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_waits_for_sends_in_flight_and_refuses_new_ones() {
        let drain = Drain::default();
        let first = drain.enter().expect("not draining yet");
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.drain().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a send is still in flight");
        assert!(
            drain.enter().is_none(),
            "a draining server takes no new send"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the drain ends once the last send is acked")
            .unwrap();
    }
}
