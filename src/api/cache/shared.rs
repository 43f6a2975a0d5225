//! The result cache in Redis, shared by every instance given the same
//! `--store`. Its layout, under one prefix ([`PREFIX`]):
//!
//! - `{hex of the key}`: the response body, with the TTL as its expiry;
//! - `order`: a sorted set, each entry by when it expires (so the oldest
//!   stored first); `sizes`: a hash, each entry's bytes; `bytes`: their
//!   total, what the bound is checked against.
//!
//! A store is one Lua script ([`PUT`]): entries past their TTL leave the
//! count, then the oldest are evicted until the new one fits, all at once
//! whichever instance runs it, so the bound holds across instances.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::cost::cost;
use super::key::CacheKey;

/// Every key of the shared cache starts with this.
pub const PREFIX: &str = "whipcode:cache:";

/// Stores one entry under the bound, the oldest making room.
pub const PUT: &str = include_str!("put.lua");

/// How long Redis may take to answer one call of the cache: a lookup that
/// takes longer is a miss, not a slow request.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// The bounds every instance shares.
#[derive(Debug, Clone, Copy)]
pub struct SharedBounds {
    /// Most bytes of entries (each counts its body and
    /// [`super::cost::ENTRY_OVERHEAD`]).
    pub bytes: usize,
    /// How long an entry is kept.
    pub ttl: Duration,
}

/// A connection to the shared cache.
#[derive(Clone)]
pub struct SharedCache {
    conn: ConnectionManager,
    prefix: String,
    bounds: SharedBounds,
    put: Arc<redis::Script>,
}

impl SharedCache {
    /// Connects to `url` (reconnecting by itself afterwards); every key
    /// under `prefix` ([`PREFIX`] for the service's).
    pub async fn connect(
        url: &str,
        prefix: &str,
        bounds: SharedBounds,
    ) -> redis::RedisResult<SharedCache> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(ANSWER_WITHIN))
            .set_number_of_retries(1);
        Ok(SharedCache {
            conn: ConnectionManager::new_with_config(client, config).await?,
            prefix: prefix.to_owned(),
            bounds,
            put: Arc::new(redis::Script::new(PUT)),
        })
    }

    fn entry(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.hex())
    }

    /// Where the bound is counted: order, sizes, bytes.
    fn accounts(&self) -> [String; 3] {
        ["order", "sizes", "bytes"].map(|k| format!("{}{k}", self.prefix))
    }

    /// The stored body for `key`, if any (and not expired).
    pub async fn get(&self, key: &CacheKey) -> redis::RedisResult<Option<Bytes>> {
        let body: Option<Vec<u8>> = self.conn.clone().get(self.entry(key)).await?;
        Ok(body.map(Bytes::from))
    }

    /// Stores `body` for `key`, the oldest entries evicted to make room;
    /// whether it was (not when it alone exceeds the bound).
    pub async fn put(&self, key: &CacheKey, body: &Bytes) -> redis::RedisResult<bool> {
        let mut invocation = self.put.prepare_invoke();
        invocation.key(self.entry(key));
        for account in self.accounts() {
            invocation.key(account);
        }
        let stored: i64 = invocation
            .arg(key.hex())
            .arg(body.as_ref())
            .arg(cost(body))
            .arg(self.bounds.ttl.as_millis().max(1) as u64)
            .arg(self.bounds.bytes)
            .arg(&self.prefix)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(stored == 1)
    }

    /// The bytes counted against the bound now.
    pub async fn counted(&self) -> redis::RedisResult<usize> {
        let total: Option<i64> = self.conn.clone().get(&self.accounts()[2]).await?;
        Ok(total.unwrap_or(0).max(0) as usize)
    }
}
