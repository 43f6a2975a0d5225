//! The master key: the original whipcode's `.masterkey` file and its check.
//!
//! Line 1 is the lowercase hex of argon2id(key, salt) with t=1, m=4096 KiB,
//! p=1 and a 32-byte output; line 2 is the salt, used as its literal bytes.
//! Hashing is deliberately costly, so it is bounded: a key that verified once
//! is remembered by its SHA-256 and checked in constant time without argon2,
//! and at most [`HASHERS`] argon2 runs happen at once with a short queue. A
//! flood of wrong keys therefore costs at most that much CPU and never delays
//! clients that hold the right key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// argon2 runs at once.
const HASHERS: usize = 1;
/// Distinct keys allowed to wait for an argon2 run; more are refused as busy.
const HASH_QUEUE: usize = 16;
/// Longer keys are refused without hashing.
const MAX_KEY_LEN: usize = 1024;

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
}

#[derive(Debug)]
pub struct MasterKey {
    hash: [u8; 32],
    salt: Vec<u8>,
    /// SHA-256 of the last key that passed argon2.
    remembered: Mutex<Option<[u8; 32]>>,
    hashers: Semaphore,
    /// Checks under way, by SHA-256 of the key; at most [`HASH_QUEUE`].
    inflight: Mutex<HashMap<[u8; 32], tokio::sync::watch::Receiver<Option<Verdict>>>>,
}

impl MasterKey {
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
        Ok(MasterKey {
            hash,
            salt: salt.as_bytes().to_vec(),
            remembered: Mutex::new(None),
            hashers: Semaphore::new(HASHERS),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// Checks a presented key; argon2 runs off the async threads. Checks of
    /// the same key at the same time share one argon2 run (a burst of
    /// clients at startup costs one hash and is never refused), and only
    /// distinct keys count against the queue.
    pub async fn verify(self: &std::sync::Arc<Self>, presented: &str) -> Verdict {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN {
            return Verdict::Invalid;
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if self.is_remembered(&digest) {
            return Verdict::Valid;
        }
        let mut outcome = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return Verdict::Busy;
            };
            match inflight.get(&digest) {
                Some(outcome) => outcome.clone(),
                None if inflight.len() >= HASH_QUEUE => return Verdict::Busy,
                None => {
                    let (tell, outcome) = tokio::sync::watch::channel(None);
                    inflight.insert(digest, outcome.clone());
                    // Its own task: the check finishes even if this request goes away.
                    tokio::spawn(std::sync::Arc::clone(self).check(
                        presented.as_bytes().to_vec(),
                        digest,
                        tell,
                    ));
                    outcome
                }
            }
        };
        let verdict = match outcome.wait_for(Option::is_some).await {
            Ok(verdict) => verdict.unwrap_or(Verdict::Busy),
            Err(_) => Verdict::Busy,
        };
        verdict
    }

    /// One argon2 run for `key`, one at a time, told to every waiter.
    async fn check(
        self: std::sync::Arc<Self>,
        key: Vec<u8>,
        digest: [u8; 32],
        tell: tokio::sync::watch::Sender<Option<Verdict>>,
    ) {
        let verdict = match self.hashers.acquire().await {
            Err(_) => Verdict::Busy,
            Ok(_permit) => {
                let this = std::sync::Arc::clone(&self);
                let matched = tokio::task::spawn_blocking(move || {
                    hash_key(&key, &this.salt).is_ok_and(|h| bool::from(h.ct_eq(&this.hash)))
                })
                .await
                .unwrap_or(false);
                if matched {
                    if let Ok(mut slot) = self.remembered.lock() {
                        *slot = Some(digest);
                    }
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                }
            }
        };
        if let Ok(mut inflight) = self.inflight.lock() {
            inflight.remove(&digest);
        }
        let _ = tell.send(Some(verdict));
    }

    fn is_remembered(&self, digest: &[u8; 32]) -> bool {
        let Ok(slot) = self.remembered.lock() else {
            return false;
        };
        slot.as_ref()
            .is_some_and(|known| bool::from(known.ct_eq(digest)))
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

    #[tokio::test]
    async fn a_key_file_made_by_argon2_cffi_is_accepted() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        assert_eq!(key.verify(FIXTURE_KEY).await, Verdict::Valid);
        assert_eq!(key.verify("fixture-master-kez").await, Verdict::Invalid);
    }

    #[test]
    fn the_salt_is_used_as_literal_bytes_not_decoded() {
        let key = MasterKey::parse(FIXTURE).unwrap();
        assert_eq!(key.salt, b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            hex::encode(hash_key(FIXTURE_KEY.as_bytes(), &key.salt).unwrap()),
            FIXTURE.lines().next().unwrap()
        );
    }

    #[tokio::test]
    async fn crlf_and_missing_final_newline_are_accepted() {
        let crlf = FIXTURE.replace('\n', "\r\n");
        let bare = FIXTURE.trim_end();
        for text in [crlf.as_str(), bare] {
            let key = Arc::new(MasterKey::parse(text).unwrap());
            assert_eq!(key.verify(FIXTURE_KEY).await, Verdict::Valid);
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
        assert_eq!(key.verify("").await, Verdict::Invalid);
        assert_eq!(key.verify(&"k".repeat(5000)).await, Verdict::Invalid);
        assert!(key.inflight.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_keys_does_not_delay_the_right_key() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        assert_eq!(key.verify(FIXTURE_KEY).await, Verdict::Valid);
        let flood: Vec<_> = (0..64)
            .map(|i| {
                let key = Arc::clone(&key);
                tokio::spawn(async move { key.verify(&format!("wrong-{i}")).await })
            })
            .collect();
        // The remembered key skips argon2 entirely, so it answers while the flood queues.
        assert_eq!(key.verify(FIXTURE_KEY).await, Verdict::Valid);
        let mut busy = 0;
        for task in flood {
            match task.await.unwrap() {
                Verdict::Busy => busy += 1,
                Verdict::Invalid => {}
                Verdict::Valid => panic!("a wrong key passed"),
            }
        }
        assert!(busy > 0, "the hashing queue is bounded");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_the_right_key_before_it_is_remembered_shares_one_hash() {
        let key = Arc::new(MasterKey::parse(FIXTURE).unwrap());
        let burst: Vec<_> = (0..64)
            .map(|_| {
                let key = Arc::clone(&key);
                tokio::spawn(async move { key.verify(FIXTURE_KEY).await })
            })
            .collect();
        for task in burst {
            assert_eq!(task.await.unwrap(), Verdict::Valid);
        }
        assert!(key.inflight.lock().unwrap().is_empty());
    }
}
