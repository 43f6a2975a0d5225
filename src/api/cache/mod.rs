//! `--cache`: finished responses of `POST /run`, by a key over every input
//! ([`CacheKey`]), bounded in bytes. One type for the handler,
//! [`ResultCache`], over two backends it does not see:
//!
//! - [`memory`]: this process's memory, least recently used first out (the
//!   default);
//! - with `--store`, Redis, shared by every instance given the same URL
//!   ([`shared`]: its layout and its one script; [`background`]: connected
//!   in the background, every call bounded in time), so a repeated request
//!   is a hit on any instance.
//!
//! Which runs are stored (those that ended on their own) is the handler's
//! choice; a shared cache that does not answer is the handler's miss.

mod background;
mod cost;
mod error;
mod key;
mod memory;
mod shared;

use std::time::Duration;

use axum::body::Bytes;

pub use background::Background;
pub use cost::{cost, ENTRY_OVERHEAD};
pub use error::CacheError;
pub use key::CacheKey;
pub use memory::MemoryCache;
pub use shared::{SharedBounds, SharedCache, PREFIX, PUT};

/// The response header that says whether the cache answered.
pub const CACHE_HEADER: &str = "x-whipcode-cache";

/// The result cache the handler uses, whichever backend holds it.
pub struct ResultCache {
    capacity: usize,
    backend: Backend,
}

enum Backend {
    Memory(MemoryCache),
    Shared(Background),
}

impl ResultCache {
    /// A cache of `capacity_bytes`: in this process's memory, or in the
    /// Redis at `shared`'s URL, each entry kept for its TTL at most.
    pub fn new(capacity_bytes: u64, shared: Option<(&str, Duration)>) -> ResultCache {
        let capacity = usize::try_from(capacity_bytes).unwrap_or(usize::MAX);
        let backend = match shared {
            None => Backend::Memory(MemoryCache::new(capacity)),
            Some((url, ttl)) => {
                let bounds = SharedBounds {
                    bytes: capacity,
                    ttl,
                };
                Backend::Shared(Background::start(url, bounds))
            }
        };
        ResultCache { capacity, backend }
    }

    /// The stored body for `key`, if any.
    pub async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.get(key)),
            Backend::Shared(shared) => shared.get(key).await,
        }
    }

    /// Stores `body` for `key`, the oldest or least recently used entries
    /// making room. A body costing more than an eighth of the capacity is
    /// not stored: one result should not flush the rest.
    pub async fn put(&self, key: CacheKey, body: Bytes) -> Result<(), CacheError> {
        if cost(&body) > self.capacity / 8 {
            return Ok(());
        }
        match &self.backend {
            Backend::Memory(memory) => {
                memory.put(key, body);
                Ok(())
            }
            Backend::Shared(shared) => shared.put(&key, &body).await,
        }
    }

    /// Whether it is Redis's (shared by the instances), not this process's.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Shared(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_over_an_eighth_of_the_capacity_is_not_stored() {
        let cache = ResultCache::new(64 * 1024, None);
        let (small, huge) = (CacheKey::from([1; 32]), CacheKey::from([2; 32]));
        cache
            .put(small, Bytes::from(vec![b'x'; 1024]))
            .await
            .unwrap();
        cache
            .put(huge, Bytes::from(vec![b'x'; 8 * 1024]))
            .await
            .unwrap();
        assert!(cache.get(&small).await.unwrap().is_some());
        assert!(cache.get(&huge).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_shared_cache_not_connected_is_an_error_the_handler_takes_for_a_miss() {
        // Nothing listens on port 1: the background connection never comes.
        let cache = ResultCache::new(
            64 * 1024,
            Some(("redis://127.0.0.1:1/", Duration::from_secs(60))),
        );
        assert!(cache.is_shared());
        let key = CacheKey::from([3; 32]);
        assert!(matches!(
            cache.get(&key).await,
            Err(CacheError::NotConnected)
        ));
        let put = cache.put(key, Bytes::from_static(b"{}")).await;
        assert!(matches!(put, Err(CacheError::NotConnected)));
    }
}
