//! argon2id password hashing on a fixed pool of threads fed by a bounded queue, so that neither
//! a flood of logins nor clients that hang up mid-login can make the server hold more than
//! `workers × 19 MiB` of hashing memory or more than `queue` waiting hashes.
//!
//! Why not `spawn_blocking` behind a semaphore: the permit lives in the request's future, so a
//! client that closes its connection frees the permit while the blocking hash keeps running,
//! and the next request starts another; and a semaphore's queue of waiters is unbounded. Here
//! a job whose requester has gone is skipped before it starts, and a full queue is answered
//! `unavailable` at once.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::error::{AppError, AppResult};

/// One piece of hashing work (run with the worker's memory) and where its result goes.
struct Job {
    work: Work,
    reply: oneshot::Sender<Done>,
}

type Work = Box<dyn FnOnce(&mut Memory) -> Done + Send>;

/// A job's result: a hash (`hash`) or a verdict (`verify`).
enum Done {
    Hashed(anyhow::Result<String>),
    Verified(bool),
}

#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
    /// Verified against when the user does not exist, so both failures take the same time.
    dummy_hash: Arc<str>,
}

fn params() -> Params {
    // OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
    Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params")
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// A hashing thread's working memory, allocated once and reused by every hash it runs.
///
/// Why: argon2 allocating its 19 MiB per hash makes glibc raise its mmap threshold and keep the
/// freed blocks in whichever arena the thread used, and threads drift across arenas, so the
/// process grew by 19 MiB per arena touched (to hundreds of MiB under a login flood).
pub struct Memory(Vec<Block>);

impl Memory {
    pub fn new() -> Self {
        Self(vec![Block::default(); params().block_count()])
    }

    fn hash(&mut self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let a = argon2();
        let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            a.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut self.0)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params())
                .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `hash`. A hash made with more memory than
    /// ours (another configuration) is checked the allocating way.
    fn verify(&mut self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        if params.block_count() > self.0.len() {
            return Argon2::new(algorithm, version, params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
        }
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let a = Argon2::new(algorithm, version, params);
        let computed = Output::init_with(expected.len(), |out| {
            a.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut self.0)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        });
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|computed| computed == expected)
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Memory::new().hash(password)
}

/// A worker: takes jobs until every `Hasher` is gone, skipping those nobody waits for.
fn work(jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut memory = Memory::new();
    loop {
        let job = match jobs.lock().unwrap().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if job.reply.is_closed() {
            metrics::counter!("missive_hash_jobs_skipped_total").increment(1);
            continue;
        }
        let _ = job.reply.send((job.work)(&mut memory));
    }
}

impl Hasher {
    /// One worker per core, and at most `queue` jobs waiting for them.
    pub fn new(queue: usize) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_workers(cores, queue)
    }

    pub fn with_workers(workers: usize, queue: usize) -> anyhow::Result<Self> {
        let (tx, rx) = sync_channel(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("missive-hash-{i}"))
                .spawn(move || work(rx))?;
        }
        Ok(Self {
            jobs: tx,
            dummy_hash: hash_blocking("missive-dummy-password")?.into(),
        })
    }

    /// Queues `work`, or answers `unavailable` at once when the queue is full.
    async fn run(&self, work: Work) -> AppResult<Done> {
        let (reply, done) = oneshot::channel();
        match self.jobs.try_send(Job { work, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("missive_hash_queue_full_total").increment(1);
                return Err(AppError::Unavailable);
            }
            Err(TrySendError::Disconnected(_)) => return Err(AppError::Unavailable),
        }
        // Dropping this future (the client hung up) closes `done`, and a worker that has not
        // started the job yet skips it.
        done.await.map_err(|_| AppError::Unavailable)
    }

    pub async fn hash(&self, password: String) -> AppResult<String> {
        match self
            .run(Box::new(move |memory| Done::Hashed(memory.hash(&password))))
            .await?
        {
            Done::Hashed(hash) => Ok(hash?),
            Done::Verified(_) => unreachable!("a hash job answers Hashed"),
        }
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is no user, so an
    /// unknown user and a wrong password cost the same.
    pub async fn verify(&self, password: String, hash: Option<String>) -> AppResult<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        match self
            .run(Box::new(move |memory| {
                Done::Verified(memory.verify(&password, &hash))
            }))
            .await?
        {
            Done::Verified(ok) => Ok(ok && known),
            Done::Hashed(_) => unreachable!("a verify job answers Verified"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[test]
    fn hashes_made_with_reused_memory_verify_both_ways_with_the_stock_argon2() {
        let mut memory = Memory::new();
        let ours = memory.hash("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2().verify_password(b"wrong horse", &parsed).is_err());

        let salt = SaltString::generate(&mut OsRng);
        let stock = argon2()
            .hash_password(b"battery", &salt)
            .unwrap()
            .to_string();
        assert!(memory.verify("battery", &stock));
        assert!(!memory.verify("staple", &stock));
        // Twice with the same memory: what the last hash left behind does not matter.
        assert!(memory.verify("battery", &stock));
        assert!(!memory.verify("battery", "not a hash"));
    }

    #[tokio::test]
    async fn a_full_hash_queue_answers_unavailable_at_once() {
        let hasher = Hasher::with_workers(1, 2).unwrap();
        let started = std::time::Instant::now();
        let results = futures_util::future::join_all(
            (0..12).map(|_| hasher.verify("wrong password".into(), None)),
        )
        .await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(AppError::Unavailable)))
            .count();
        // One running, two queued: at most three are checked; the rest are refused, not queued.
        assert!(refused >= 9, "only {refused} of 12 refused");
        assert!(results.iter().all(|r| matches!(r, Ok(false) | Err(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_hash_whose_requester_hung_up_is_never_started() {
        let hasher = Hasher::with_workers(1, 64).unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // The worker busy with a real check, then 20 requests dropped (a client closing its
        // connection) before the worker reaches them.
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify("pw".into(), None).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        for _ in 0..20 {
            let ran = ran.clone();
            let fut = hasher.run(Box::new(move |memory| {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Done::Verified(memory.verify("x", "not a hash"))
            }));
            // Polled once, so it is queued, then dropped.
            assert!(futures_util::FutureExt::now_or_never(fut).is_none());
        }
        assert!(!busy.await.unwrap().unwrap());
        // A real one after them still gets its answer, and by then the dropped ones were skipped.
        assert!(!hasher.verify("pw".into(), None).await.unwrap());
        assert_eq!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "abandoned hashes ran"
        );
    }
}
