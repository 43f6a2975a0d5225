//! The cache in this process's memory (`--cache` without `--store`): least
//! recently used first out, bounded in bytes.

use std::sync::Mutex;

use axum::body::Bytes;
use lru::LruCache;

use super::cost::cost;
use super::key::CacheKey;

/// The recency order is the `lru` crate's; it holds no weights, so the
/// bytes are counted here and the least recently used entries popped until
/// the cache fits.
pub struct MemoryCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

struct Lru {
    entries: LruCache<CacheKey, Bytes>,
    bytes: usize,
}

impl MemoryCache {
    pub fn new(capacity: usize) -> MemoryCache {
        MemoryCache {
            capacity,
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
    pub fn put(&self, key: CacheKey, body: Bytes) {
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
    use super::super::cost::ENTRY_OVERHEAD;
    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey::from([n; 32])
    }

    fn body(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = MemoryCache::new(8 * 1024);
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
    fn bytes_stay_under_the_capacity() {
        let cache = MemoryCache::new(64 * 1024);
        for n in 0..200u8 {
            cache.put(key(n), body(usize::from(n) * 37 % 5000));
            assert!(cache.bytes() <= 64 * 1024);
        }
    }

    #[test]
    fn replacing_an_entry_does_not_count_it_twice() {
        let cache = MemoryCache::new(64 * 1024);
        cache.put(key(1), body(1000));
        cache.put(key(1), body(500));
        assert_eq!(cache.bytes(), 500 + ENTRY_OVERHEAD);
        assert_eq!(cache.len(), 1);
    }
}
