//! The master key: the original whipcode's `.masterkey` file and its check.
//!
//! Line 1 is the lowercase hex of argon2id(key, salt) with t=1, m=4096 KiB,
//! p=1 and a 32-byte output; line 2 is the salt, used as its literal bytes.
//!
//! Hashing is deliberately costly, so who may cause it is bounded:
//! - a key that verified once is remembered by its SHA-256 and checked in
//!   constant time without argon2; a wrong key is remembered too (the last
//!   [`REFUSED_MEMORY`] of them), so repeating one costs nothing;
//! - checks of the same key at the same time share one argon2 run;
//! - each client (an address, see [`crate::buckets::client_key`]) has at most
//!   one distinct key being checked at a time and a budget of checks
//!   ([`CHECK_BUDGET`]); beyond either it is told to slow down without
//!   hashing. A flood from one client therefore occupies one place in the
//!   queue, and another client's first check waits behind at most one hash
//!   per flooding client (a flood from [`HASH_QUEUE`] or more distinct
//!   clients can still fill the queue: a gateway's job);
//! - when [`HASH_QUEUE`] distinct keys are already waiting, a client whose
//!   check never failed waits for a place (in arrival order, at most
//!   [`PLACE_WAIT`], with at most [`MAX_WAITING`] waiting), while a client
//!   with a failed check is told the service is busy: a flood of wrong keys
//!   from many addresses cannot keep a new right key out, since each
//!   flooding address fails once and then waits no more;
//! - argon2 runs on one thread of its own, one key at a time in arrival
//!   order, with at most [`HASH_QUEUE`] distinct keys waiting. (One thread,
//!   not the blocking pool: each run needs 4 MiB, and spread over many
//!   threads that memory stays behind in each thread's allocator arena —
//!   ~60 MB more under a flood, measured with `bench/flood.py`.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::buckets::{client_key, Decision, RateLimit, RateLimiter};

/// Distinct keys allowed to wait for an argon2 run; past it, a client with a
/// failed check is refused as busy and one without waits for a place.
const HASH_QUEUE: usize = 16;
/// How long a client without a failed check waits for a place.
const PLACE_WAIT: Duration = Duration::from_secs(5);
/// Requests waiting for a place at once; more are refused as busy.
const MAX_WAITING: usize = 256;
/// Clients whose check failed, remembered (most recent).
const FAILED_CLIENTS: usize = 65536;
/// Longer keys are refused without hashing.
const MAX_KEY_LEN: usize = 1024;
/// Argon2 checks one client may start: a burst, then one per interval.
pub const CHECK_BUDGET: RateLimit = RateLimit {
    burst: 10,
    refill: Duration::from_secs(3),
};
/// Wrong keys remembered, so that repeating one is refused without argon2.
const REFUSED_MEMORY: usize = 4096;

/// The original's parameters: t=1, m=4096 KiB, p=1, 32-byte output.
pub fn hash_key(key: &[u8], salt: &[u8]) -> Result<[u8; 32], KeyError> {
    let params = Params::new(4096, 1, 1, Some(32)).map_err(|e| KeyError::Hash(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(key, salt, &mut out)
        .map_err(|e| KeyError::Hash(e.to_string()))?;
    Ok(out)
}

/// A key for the hashing thread, and where it says whether the key matched.
type HashJob = (Vec<u8>, tokio::sync::oneshot::Sender<bool>);

/// The thread every argon2 run happens on, in arrival order; it ends when
/// its [`MasterKey`] is dropped.
fn spawn_hasher(
    hash: [u8; 32],
    salt: Vec<u8>,
) -> std::io::Result<std::sync::mpsc::Sender<HashJob>> {
    let (jobs, queue) = std::sync::mpsc::channel::<HashJob>();
    std::thread::Builder::new()
        .name("argon2".into())
        .spawn(move || {
            for (key, answer) in queue {
                let matched = hash_key(&key, &salt).is_ok_and(|h| bool::from(h.ct_eq(&hash)));
                let _ = answer.send(matched);
            }
        })?;
    Ok(jobs)
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {}: {source} (create one with --gen-key)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("argon2: {0}")]
    Hash(String),
}

/// What a key check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    /// Too many checks are waiting; try again shortly.
    Busy,
    /// This client has a check under way or has spent its budget of checks.
    Throttled {
        retry_after: Duration,
    },
}

/// One check under way: whose it is, and where its verdict will appear.
#[derive(Debug)]
struct Inflight {
    client: IpAddr,
    outcome: tokio::sync::watch::Receiver<Option<Verdict>>,
}

/// Checks under way, and the clients waiting for a place.
#[derive(Debug, Default)]
struct Checks {
    /// By SHA-256 of the key; at most [`HASH_QUEUE`].
    inflight: HashMap<[u8; 32], Inflight>,
    /// Clients waiting for a place (one at a time each).
    waiting: std::collections::HashSet<IpAddr>,
}

#[derive(Debug)]
pub struct MasterKey {
    /// SHA-256 of the last key that passed argon2.
    remembered: Mutex<Option<[u8; 32]>>,
    /// SHA-256 of keys that failed argon2, most recent first.
    refused: Mutex<lru::LruCache<[u8; 32], ()>>,
    /// Keys for the hashing thread, each with where to say whether it matched.
    hasher: std::sync::mpsc::Sender<HashJob>,
    /// Checks under way and the clients waiting for a place.
    checks: Mutex<Checks>,
    /// Places in the hashing queue, handed out in arrival order.
    places: std::sync::Arc<tokio::sync::Semaphore>,
    /// Clients whose key check failed.
    failed: Mutex<lru::LruCache<IpAddr, ()>>,
    /// Each client's budget of argon2 checks.
    budget: RateLimiter,
    /// The secret interactive tickets are signed with, derived from the key
    /// file (so instances sharing it accept each other's tickets).
    ticket_secret: [u8; 32],
}

impl MasterKey {
    /// The secret of [`crate::tickets`].
    pub fn ticket_secret(&self) -> &[u8; 32] {
        &self.ticket_secret
    }

    pub fn load(path: &Path) -> Result<MasterKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        MasterKey::parse(&text).map_err(|message| KeyError::Format {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses the two lines; a trailing newline or CRLF is fine.
    pub fn parse(text: &str) -> Result<MasterKey, String> {
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let hash_hex = lines.next().unwrap_or_default();
        let salt = lines.next().unwrap_or_default();
        if lines.any(|rest| !rest.is_empty()) {
            return Err("expected two lines: the hash, then the salt".into());
        }
        let hash_vec = hex::decode(hash_hex)
            .map_err(|_| "line 1 must be the hash in hex (64 characters)".to_string())?;
        let hash: [u8; 32] = hash_vec
            .try_into()
            .map_err(|_| "line 1 must be a 32-byte hash (64 hex characters)".to_string())?;
        if salt.len() < 8 {
            return Err("line 2 must be the salt, at least 8 characters".into());
        }
        let ticket_secret = {
            use sha2::Digest as _;
            let mut digest = sha2::Sha256::new();
            digest.update(b"whipcode ticket secret v1\0");
            digest.update(hash);
            digest.update(salt.as_bytes());
            digest.finalize().into()
        };
        let hasher = spawn_hasher(hash, salt.as_bytes().to_vec())
            .map_err(|e| format!("cannot start the key-checking thread: {e}"))?;
        Ok(MasterKey {
            ticket_secret,
            hasher,
            remembered: Mutex::new(None),
            refused: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(REFUSED_MEMORY).unwrap_or(NonZeroUsize::MIN),
            )),
            checks: Mutex::default(),
            places: std::sync::Arc::new(tokio::sync::Semaphore::new(HASH_QUEUE)),
            failed: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(FAILED_CLIENTS).unwrap_or(NonZeroUsize::MIN),
            )),
            budget: RateLimiter::new(CHECK_BUDGET),
        })
    }

    /// Checks a key `client` presented; argon2 runs off the async threads.
    /// Checks of the same key at the same time share one argon2 run (a burst
    /// of clients at startup costs one hash and is never refused); a new
    /// distinct key counts against its client's share (see the module docs).
    pub async fn verify(self: &std::sync::Arc<Self>, presented: &str, client: IpAddr) -> Verdict {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN {
            return Verdict::Invalid;
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if self.is_remembered(&digest) {
            return Verdict::Valid;
        }
        if self.was_refused(&digest) {
            return Verdict::Invalid;
        }
        let client = client_key(client);
        let mut outcome = match self.start(presented, digest, client).await {
            Ok(outcome) => outcome,
            Err(verdict) => return verdict,
        };
        let verdict = match outcome.wait_for(Option::is_some).await {
            Ok(verdict) => verdict.unwrap_or(Verdict::Busy),
            Err(_) => Verdict::Busy,
        };
        verdict
    }

    /// Joins the check of `digest` under way, or starts one for `client`
    /// once it has a place; the verdict's receiver, or the refusal.
    async fn start(
        self: &std::sync::Arc<Self>,
        presented: &str,
        digest: [u8; 32],
        client: IpAddr,
    ) -> Result<tokio::sync::watch::Receiver<Option<Verdict>>, Verdict> {
        let place = {
            let mut checks = self.checks.lock().map_err(|_| Verdict::Busy)?;
            if let Some(check) = checks.inflight.get(&digest) {
                return Ok(check.outcome.clone());
            }
            let busy_client = checks.waiting.contains(&client)
                || checks.inflight.values().any(|check| check.client == client);
            if busy_client {
                // One distinct key per client at a time: a flood waits on itself.
                return Err(Verdict::Throttled {
                    retry_after: Duration::from_secs(1),
                });
            }
            match std::sync::Arc::clone(&self.places).try_acquire_owned() {
                Ok(place) => Some(place),
                // A full queue costs the client none of its budget.
                Err(_) if self.has_failed(client) || checks.waiting.len() >= MAX_WAITING => {
                    return Err(Verdict::Busy)
                }
                Err(_) => {
                    checks.waiting.insert(client);
                    None
                }
            }
        };
        let place = match place {
            Some(place) => place,
            None => {
                let entry = WaitingEntry {
                    checks: &self.checks,
                    client,
                };
                let waited = tokio::time::timeout(
                    PLACE_WAIT,
                    std::sync::Arc::clone(&self.places).acquire_owned(),
                )
                .await;
                drop(entry);
                match waited {
                    Ok(Ok(place)) => place,
                    _ => return Err(Verdict::Busy),
                }
            }
        };
        if let Decision::Deny { retry_after } = self.budget.check(client, Instant::now()) {
            return Err(Verdict::Throttled { retry_after });
        }
        let mut checks = self.checks.lock().map_err(|_| Verdict::Busy)?;
        // Started by another request meanwhile: join it (the place goes back).
        if let Some(check) = checks.inflight.get(&digest) {
            return Ok(check.outcome.clone());
        }
        let (tell, outcome) = tokio::sync::watch::channel(None);
        checks.inflight.insert(
            digest,
            Inflight {
                client,
                outcome: outcome.clone(),
            },
        );
        // Its own task: the check finishes even if this request goes away.
        tokio::spawn(std::sync::Arc::clone(self).check(
            presented.as_bytes().to_vec(),
            digest,
            tell,
            place,
        ));
        Ok(outcome)
    }

    /// Distinct keys being checked or waiting for argon2 right now.
    pub fn checks_in_flight(&self) -> usize {
        self.checks.lock().map_or(0, |checks| checks.inflight.len())
    }

    /// One argon2 run for `key` on the hashing thread, told to every waiter.
    async fn check(
        self: std::sync::Arc<Self>,
        key: Vec<u8>,
        digest: [u8; 32],
        tell: tokio::sync::watch::Sender<Option<Verdict>>,
        place: tokio::sync::OwnedSemaphorePermit,
    ) {
        let (answer, matched) = tokio::sync::oneshot::channel();
        let matched = match self.hasher.send((key, answer)) {
            Err(_) => None,
            Ok(()) => matched.await.ok(),
        };
        let verdict = match matched {
            // The hashing thread is gone: nothing can be checked.
            None => Verdict::Busy,
            Some(matched) => {
                if matched {
                    if let Ok(mut slot) = self.remembered.lock() {
                        *slot = Some(digest);
                    }
                    Verdict::Valid
                } else {
                    if let Ok(mut refused) = self.refused.lock() {
                        refused.put(digest, ());
                    }
                    Verdict::Invalid
                }
            }
        };
        if let Ok(mut checks) = self.checks.lock() {
            if let Some(check) = checks.inflight.remove(&digest) {
                if verdict == Verdict::Invalid {
                    if let Ok(mut failed) = self.failed.lock() {
                        failed.put(check.client, ());
                    }
                }
            }
        }
        drop(place);
        let _ = tell.send(Some(verdict));
    }

    fn has_failed(&self, client: IpAddr) -> bool {
        self.failed
            .lock()
            .map_or(true, |mut failed| failed.get(&client).is_some())
    }

    fn was_refused(&self, digest: &[u8; 32]) -> bool {
        self.refused
            .lock()
            .is_ok_and(|mut refused| refused.get(digest).is_some())
    }

    fn is_remembered(&self, digest: &[u8; 32]) -> bool {
        let Ok(slot) = self.remembered.lock() else {
            return false;
        };
        slot.as_ref()
            .is_some_and(|known| bool::from(known.ct_eq(digest)))
    }
}

/// `client` on the waiting list until dropped: a request that goes away
/// while it waits for a place (its client hung up) leaves no entry behind.
struct WaitingEntry<'a> {
    checks: &'a Mutex<Checks>,
    client: IpAddr,
}

impl Drop for WaitingEntry<'_> {
    fn drop(&mut self) {
        if let Ok(mut checks) = self.checks.lock() {
            checks.waiting.remove(&self.client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Made with Python's argon2-cffi (an independent implementation):
    /// `argon2.low_level.hash_secret_raw(b"fixture-master-key", b"0123456789abcdef0123456789abcdef",
    /// time_cost=1, memory_cost=4096, parallelism=1, hash_len=32, type=Type.ID).hex()`
    const FIXTURE: &str = include_str!("../tests/fixtures/argon2-cffi.masterkey");
    const FIXTURE_KEY: &str = "fixture-master-key";
    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[tokio::test]
    async fn a_key_file_made_by_argon2_cffi_is_accepted() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
        assert_eq!(key.verify("fixture-master-kez", A).await, Verdict::Invalid);
    }

    #[test]
    fn the_salt_is_used_as_literal_bytes_not_decoded() {
        let salt = FIXTURE.lines().nth(1).unwrap();
        assert_eq!(salt, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            hex::encode(hash_key(FIXTURE_KEY.as_bytes(), salt.as_bytes()).unwrap()),
            FIXTURE.lines().next().unwrap()
        );
    }

    #[tokio::test]
    async fn crlf_and_missing_final_newline_are_accepted() {
        let crlf = FIXTURE.replace('\n', "\r\n");
        let bare = FIXTURE.trim_end();
        for text in [crlf.as_str(), bare] {
            let key = Arc::new(MasterKey::parse(text).unwrap());
            assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
        }
    }

    #[test]
    fn malformed_key_files_are_refused() {
        for text in [
            "",
            "zz\nsaltsaltsalt\n",
            "abcd\nsaltsaltsalt\n",
            "a\nb\nc\n",
        ] {
            assert!(MasterKey::parse(text).is_err(), "{text:?}");
        }
    }

    #[tokio::test]
    async fn empty_and_oversized_keys_are_refused_without_hashing() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        assert_eq!(key.verify("", A).await, Verdict::Invalid);
        assert_eq!(key.verify(&"k".repeat(5000), A).await, Verdict::Invalid);
        assert_eq!(key.checks_in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_keys_does_not_delay_the_remembered_key() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
        let flood: Vec<_> = (0..64u32)
            .map(|i| {
                let key = Arc::clone(&key);
                // 64 clients, so that the flood reaches the shared queue.
                let client = IpAddr::V4((0xC633_6400 + i).into());
                tokio::spawn(async move { key.verify(&format!("wrong-{i}"), client).await })
            })
            .collect();
        // The remembered key skips argon2 entirely, so it answers while the flood queues.
        assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
        let mut most = 0;
        while !flood.iter().all(|task| task.is_finished()) {
            most = most.max(key.checks_in_flight());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(most <= HASH_QUEUE, "{most} keys hashed or queued at once");
        for task in flood {
            let verdict = task.await.unwrap();
            assert_ne!(verdict, Verdict::Valid, "a wrong key passed");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_keys_from_one_client_does_not_starve_another_clients_right_key() {
        // Freshly loaded: the right key is not remembered yet and needs argon2.
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Eight senders at once from the one client, each key new.
        let flood: Vec<_> = (0..8u64)
            .map(|sender| {
                let (key, stop) = (Arc::clone(&key), Arc::clone(&stop));
                tokio::spawn(async move {
                    let (mut invalid, mut throttled, mut i) = (0u32, 0u32, 0u64);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        match key.verify(&format!("wrong-{sender}-{i}"), A).await {
                            Verdict::Invalid => invalid += 1,
                            Verdict::Throttled { .. } => throttled += 1,
                            other => panic!("flood got {other:?}"),
                        }
                        tokio::task::yield_now().await;
                    }
                    (invalid, throttled)
                })
            })
            .collect();
        let started = Instant::now();
        while key.checks_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        // The flood holds one place in the queue, however fast it sends.
        for _ in 0..200 {
            assert!(key.checks_in_flight() <= 1, "{}", key.checks_in_flight());
            tokio::task::yield_now().await;
        }
        assert_eq!(key.verify(FIXTURE_KEY, B).await, Verdict::Valid);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut invalid, mut throttled) = (0, 0);
        for sender in flood {
            let (i, t) = sender.await.unwrap();
            invalid += i;
            throttled += t;
        }
        let allowed = CHECK_BUDGET.burst as f64
            + started.elapsed().as_secs_f64() / CHECK_BUDGET.refill.as_secs_f64()
            + 1.0;
        assert!(
            f64::from(invalid) <= allowed,
            "{invalid} hashes for one client"
        );
        assert!(throttled > 0);
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_while_waiting_for_a_place_leaves_no_entry() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        // Every place taken: a new client waits.
        let places = Arc::clone(&key.places)
            .acquire_many_owned(HASH_QUEUE as u32)
            .await
            .unwrap();
        let waiting = key.start("a-new-key", [7; 32], A);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting)
            .await
            .is_err());
        // The request went away mid-wait: the client is not left waiting,
        // so its next request is not told to slow down.
        assert!(key.checks.lock().unwrap().waiting.is_empty());
        drop(places);
        assert!(key.start("a-new-key", [7; 32], A).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_right_key_is_served_during_a_many_address_wrong_key_flood() {
        // Freshly loaded: the right key is not remembered yet and needs argon2.
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // 48 senders at once, each from four addresses of its own in turn,
        // every key new: far more distinct clients than places in the queue.
        let flood: Vec<_> = (0..48u8)
            .map(|sender| {
                let (key, stop) = (Arc::clone(&key), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let from =
                            IpAddr::V4(std::net::Ipv4Addr::new(127, 0, sender, (i % 4) as u8 + 1));
                        key.verify(&format!("wrong-{sender}-{i}"), from).await;
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        while key.checks_in_flight() < HASH_QUEUE {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The queue is full; a new client with the right key still gets in.
        let verdicts = [
            key.verify(FIXTURE_KEY, B).await,
            key.verify(FIXTURE_KEY, A).await,
        ];
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for sender in flood {
            sender.await.unwrap();
        }
        assert_eq!(verdicts, [Verdict::Valid, Verdict::Valid]);
    }

    #[tokio::test]
    async fn a_repeated_wrong_key_is_refused_without_hashing_again() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        for _ in 0..(CHECK_BUDGET.burst * 3) {
            assert_eq!(key.verify("wrong", A).await, Verdict::Invalid);
        }
        // The repeats cost nothing, so the client's budget is still there.
        assert_eq!(key.verify(FIXTURE_KEY, A).await, Verdict::Valid);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_the_right_key_before_it_is_remembered_shares_one_hash() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        let burst: Vec<_> = (0..64)
            .map(|_| {
                let key = Arc::clone(&key);
                tokio::spawn(async move { key.verify(FIXTURE_KEY, A).await })
            })
            .collect();
        for task in burst {
            assert_eq!(task.await.unwrap(), Verdict::Valid);
        }
        assert_eq!(key.checks_in_flight(), 0);
    }
}
