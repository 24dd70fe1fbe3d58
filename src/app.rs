//! The application state every HTTP handler and socket handler shares, and the rate limiters.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::password::Hasher;
use crate::auth::tokens::Tokens;
use crate::chat::Delivery;
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
    /// Where attachment bytes live (local disk or S3).
    pub media: Arc<crate::media::Media>,
    pub tokens: Tokens,
    pub hasher: Hasher,
    /// What the nodes share: node leases, presence, failed logins (`cluster::state`).
    pub shared: crate::cluster::state::Shared,
    /// Where this node's users are connected, for the cluster-wide rates (`cluster::limits`).
    pub spread: crate::cluster::limits::Spread,
    /// `None` when `MISSIVE_SEND_RATE=0`.
    pub send_limiter: Option<UserLimiter>,
    pub typing_limiter: UserLimiter,
    /// Logins and registrations per IP address; `None` when `MISSIVE_AUTH_RATE=0`.
    pub auth_limiter: Option<AddrLimiter>,
    /// New Engine.IO sessions per IP address; `None` when `MISSIVE_HANDSHAKE_RATE=0`.
    pub handshake_limiter: Option<AddrLimiter>,
    /// Guest sockets per IP address.
    pub guests: Counter<IpAddr>,
    /// This node's sockets per user, reserved before a socket is bound (see `session`).
    pub user_sockets: Counter<UserId>,
    /// Set once the Socket.IO layer is built (it needs the app as its state first).
    delivery: OnceLock<Arc<dyn Delivery>>,
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
    /// The operator's console: the latest cluster figures this node computed.
    pub operator_stats: crate::chat::operator::Latest,
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
        media: Arc<crate::media::Media>,
        shared: crate::cluster::state::Shared,
    ) -> anyhow::Result<Self> {
        let send_limiter = NonZeroU32::new(config.send_rate)
            .map(|rate| UserLimiter::new(rate, rate.saturating_mul(NonZeroU32::new(2).unwrap())));
        let five = NonZeroU32::new(5).unwrap();
        let auth_limiter = AddrLimiter::per_second(config.auth_rate, 3);
        let handshake_limiter = AddrLimiter::per_second(config.handshake_rate, 5);
        Ok(Self(Arc::new(AppInner {
            hasher: Hasher::new(config.hash_queue)?,
            config,
            store,
            media,
            tokens,
            operator_stats: crate::chat::operator::Latest::new(shared.node_id().to_owned()),
            shared,
            spread: Default::default(),
            send_limiter,
            typing_limiter: UserLimiter::new(five, five),
            auth_limiter,
            handshake_limiter,
            guests: Counter::default(),
            user_sockets: Counter::default(),
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

    /// Tokens an action of `user` costs in this node's buckets (see `cluster::limits`).
    pub fn rate_cost(&self, user: UserId) -> u32 {
        self.spread.cost(user, self.user_sockets.count(&user) > 0)
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
pub type UserLimiter = Limiter<UserId>;

/// A per-address token bucket: logins, registrations, new Socket.IO sessions.
pub type AddrLimiter = Limiter<IpAddr>;

/// A token bucket per key (governor's GCRA).
pub struct Limiter<K: Hash + Eq + Clone>(DefaultKeyedRateLimiter<K>, NonZeroU32);

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `per_second` with bursts of `burst_factor` times that; `None` when `per_second` is 0.
    pub fn per_second(per_second: u32, burst_factor: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = rate.saturating_mul(NonZeroU32::new(burst_factor.max(1)).unwrap());
        Some(Self::new(rate, burst))
    }

    fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self(
            governor::RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            burst,
        )
    }

    /// Drops the state of keys whose bucket is full again (they would be allowed anyway).
    pub fn forget_idle(&self) {
        self.0.retain_recent();
        self.0.shrink_to_fit();
    }

    /// Takes `n` tokens at once (capped at the burst, so that any action can pass once the
    /// bucket is full); `rate_limited` with the wait until they are there.
    pub fn check_n(&self, key: K, n: u32) -> AppResult<()> {
        let n = NonZeroU32::new(n.min(self.1.get()).max(1)).unwrap();
        match self.0.check_key_n(&key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
                Err(AppError::RateLimited {
                    retry_after_ms: (wait.as_millis() as u64).max(1),
                })
            }
            // Cannot happen with `n` capped at the burst.
            Err(_) => Err(AppError::RateLimited {
                retry_after_ms: 1000,
            }),
        }
    }

    /// `rate_limited` with the wait until the next allowed call.
    pub fn check(&self, key: K) -> AppResult<()> {
        self.0.check_key(&key).map_err(|not_until| {
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

/// Counts things held per key (sockets per user, guests per address) with a hard cap: a slot
/// is taken and checked in one step under the lock, so concurrent handshakes cannot all pass a
/// limit that each saw unreached, and it is given back when its [`Slot`] drops.
pub struct Counter<K: Hash + Eq + Clone + Send + 'static>(Arc<Mutex<HashMap<K, usize>>>);

impl<K: Hash + Eq + Clone + Send + 'static> Default for Counter<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Hash + Eq + Clone + Send + 'static> Counter<K> {
    /// A slot for `key` unless it already holds `max` (0 = unlimited).
    pub fn try_take(&self, key: K, max: usize) -> Option<Slot<K>> {
        let mut map = self.0.lock().unwrap();
        let n = map.entry(key.clone()).or_insert(0);
        if max != 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            map: self.0.clone(),
            key,
        })
    }

    /// Every key holding a slot, and how many.
    pub fn snapshot(&self) -> Vec<(K, usize)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    pub fn count(&self, key: &K) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    /// How many keys hold a slot (distinct users with a socket, for `missive_users_connected`).
    pub fn keys(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// One taken place of a [`Counter`], given back on drop.
pub struct Slot<K: Hash + Eq + Clone + Send + 'static> {
    map: Arc<Mutex<HashMap<K, usize>>>,
    key: K,
}

impl<K: Hash + Eq + Clone + Send + 'static> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap();
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_refuses_past_its_cap_and_frees_a_place_when_a_slot_drops() {
        let c = Counter::<u8>::default();
        let a = c.try_take(1, 2).unwrap();
        let _b = c.try_take(1, 2).unwrap();
        assert!(c.try_take(1, 2).is_none());
        assert!(c.try_take(2, 2).is_some());
        drop(a);
        assert_eq!(c.count(&1), 1);
        assert!(c.try_take(1, 2).is_some());
        assert!(c.try_take(3, 0).is_some(), "0 means unlimited");
    }
}
