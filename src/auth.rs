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
//!
//! - [`keyfile`]: the key file's two lines, and the argon2 hash they hold.

mod keyfile;

pub use keyfile::{hash_key, KeyError, KeyFileError};

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        MasterKey::parse(&text).map_err(|source| KeyError::Format {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses the two lines; a trailing newline or CRLF is fine.
    pub fn parse(text: &str) -> Result<MasterKey, KeyFileError> {
        let keyfile::KeyFile { hash, salt } = keyfile::KeyFile::parse(text)?;
        let ticket_secret = keyfile::ticket_secret(&hash, salt);
        let hasher = spawn_hasher(hash, salt.as_bytes().to_vec()).map_err(KeyFileError::Thread)?;
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
            None => self.wait_for_place(client).await?,
        };
        let mut checks = self.checks.lock().map_err(|_| Verdict::Busy)?;
        // Another key of this client got its place first (the lock was let
        // go while this one waited): still one distinct key per client, and
        // this refusal costs none of its budget.
        let other_key = |(d, check): (&[u8; 32], &Inflight)| d != &digest && check.client == client;
        if checks.inflight.iter().any(other_key) {
            return Err(Verdict::Throttled {
                retry_after: Duration::from_secs(1),
            });
        }
        if let Decision::Deny { retry_after } = self.budget.check(client, Instant::now()) {
            return Err(Verdict::Throttled { retry_after });
        }
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

    /// A place in the queue of checks for `client`, listed as waiting
    /// meanwhile; busy when none comes within [`PLACE_WAIT`].
    async fn wait_for_place(
        &self,
        client: IpAddr,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Verdict> {
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
            Ok(Ok(place)) => Ok(place),
            _ => Err(Verdict::Busy),
        }
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
mod tests;
