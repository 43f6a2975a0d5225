//! `--cache`: finished responses of `POST /run`, least recently used first out,
//! bounded in bytes.
//!
//! The key covers every input that can change a run's output: the language
//! (its id and image), the code, the args, stdin, env and the effective
//! timeout. Each field is length-prefixed before hashing, so no two different
//! requests share a key by moving bytes between fields. Only runs that ended on
//! their own (an exit status, no timeout, no cap hit) are stored.

use std::sync::Mutex;

use axum::body::Bytes;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::request::RunRequest;

/// The response header that says whether the cache answered.
pub const CACHE_HEADER: &str = "x-whipcode-cache";

/// Bytes counted per entry on top of its body: the key twice, the map slots.
const ENTRY_OVERHEAD: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn of(request: &RunRequest) -> CacheKey {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(b"whipcode-cache-v1");
        field(&request.language.id.to_le_bytes());
        field(request.language.image_ref().as_bytes());
        field(&request.code);
        field(&(request.args.len() as u64).to_le_bytes());
        for arg in &request.args {
            field(arg.as_bytes());
        }
        field(&request.stdin);
        let mut env: Vec<_> = request.env.iter().collect();
        env.sort();
        field(&(env.len() as u64).to_le_bytes());
        for (name, value) in env {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        field(&request.timeout.as_millis().to_le_bytes());
        field(&request.compile_timeout.as_millis().to_le_bytes());
        field(&(request.files.len() as u64).to_le_bytes());
        for (name, content) in &request.files {
            field(name.as_bytes());
            field(content);
        }
        CacheKey(hash.finalize().into())
    }
}

/// The recency order is the `lru` crate's; it holds no weights, so the
/// bytes are counted here and the least recently used entries popped until
/// the cache fits.
pub struct ResultCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

struct Lru {
    entries: LruCache<CacheKey, Bytes>,
    bytes: usize,
}

fn cost(body: &Bytes) -> usize {
    body.len() + ENTRY_OVERHEAD
}

impl ResultCache {
    pub fn new(capacity_bytes: u64) -> ResultCache {
        ResultCache {
            capacity: usize::try_from(capacity_bytes).unwrap_or(usize::MAX),
            inner: Mutex::new(Lru {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored body, now the most recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.lock().entries.get(key).cloned()
    }

    /// Stores `body`, evicting the least recently used entries to make room.
    /// A body larger than an eighth of the capacity is not stored: one result
    /// should not flush the rest.
    pub fn put(&self, key: CacheKey, body: Bytes) {
        if cost(&body) > self.capacity / 8 {
            return;
        }
        let mut lru = self.lock();
        lru.bytes += cost(&body);
        if let Some(old) = lru.entries.put(key, body) {
            lru.bytes -= cost(&old);
        }
        while lru.bytes > self.capacity {
            let Some((_, gone)) = lru.entries.pop_lru() else {
                break;
            };
            lru.bytes -= cost(&gone);
        }
    }

    /// Bytes held, counting per-entry overhead.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn body(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = ResultCache::new(8 * 1024);
        // 928 bytes each with overhead: the ninth entry pushes one out.
        for n in 0..9 {
            cache.put(key(n), body(800));
        }
        assert!(cache.bytes() <= 8 * 1024, "{}", cache.bytes());
        assert!(cache.get(&key(0)).is_none(), "oldest evicted");
        assert!(cache.get(&key(1)).is_some());
        cache.put(key(9), body(800));
        assert!(cache.get(&key(1)).is_some(), "recently read entry kept");
        assert!(cache.get(&key(2)).is_none(), "next oldest evicted instead");
    }

    #[test]
    fn bytes_stay_under_the_capacity_and_huge_bodies_are_not_stored() {
        let cache = ResultCache::new(64 * 1024);
        for n in 0..200u8 {
            cache.put(key(n), body(usize::from(n) * 37 % 5000));
            assert!(cache.bytes() <= 64 * 1024);
        }
        cache.put(key(250), body(20 * 1024));
        assert!(cache.get(&key(250)).is_none());
    }

    #[test]
    fn the_key_changes_with_every_input() {
        let languages = crate::languages::LanguageMap::load(None).unwrap();
        let base = RunRequest {
            language: languages.get(1).unwrap().clone(),
            code: b"print(1)".to_vec(),
            args: vec!["-O".into()],
            timeout: std::time::Duration::from_secs(5),
            stdin: b"in".to_vec(),
            env: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            files: vec![("lib.py".into(), b"x = 1".to_vec())],
            compile_timeout: std::time::Duration::from_secs(5),
        };
        let key = CacheKey::of(&base);
        type Change<'a> = Box<dyn Fn(&mut RunRequest) + 'a>;
        let variants: Vec<Change> = vec![
            Box::new(|r| r.language = languages.get(3).unwrap().clone()),
            Box::new(|r| r.code.push(b' ')),
            Box::new(|r| r.args.push("-B".into())),
            Box::new(|r| r.args = vec!["-O-B".into()]),
            Box::new(|r| r.stdin.push(b'\n')),
            Box::new(|r| r.env[0].1 = "2".into()),
            Box::new(|r| r.env.push(("C".into(), String::new()))),
            Box::new(|r| r.timeout = std::time::Duration::from_secs(6)),
            Box::new(|r| r.compile_timeout = std::time::Duration::from_secs(6)),
            Box::new(|r| r.files[0].0 = "lib2.py".into()),
            Box::new(|r| r.files[0].1.push(b' ')),
            Box::new(|r| r.files.push(("b".into(), Vec::new()))),
            // Bytes moved from code to stdin.
            Box::new(|r| {
                r.code.pop();
                r.stdin.insert(0, b')');
            }),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(CacheKey::of(&changed), key, "variant {i} shares the key");
        }
        let mut reordered = base.clone();
        reordered.env.reverse();
        assert_eq!(CacheKey::of(&reordered), key, "env order does not matter");
    }

    #[test]
    fn replacing_an_entry_does_not_count_it_twice() {
        let cache = ResultCache::new(64 * 1024);
        cache.put(key(1), body(1000));
        cache.put(key(1), body(500));
        assert_eq!(cache.bytes(), 500 + ENTRY_OVERHEAD);
        assert_eq!(cache.len(), 1);
    }
}
