//! The shared cache as the service holds it: connected in the background,
//! so an instance starts (and runs, missing) while Redis is down, and every
//! call bounded by [`ANSWER_WITHIN`]. After a call Redis did not answer in
//! time, the cache is skipped for [`REST`]: while Redis hangs, one request
//! a second waits for it, not every one.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::OnceCell;

use super::error::CacheError;
use super::key::CacheKey;
use super::shared::{SharedBounds, SharedCache, ANSWER_WITHIN, PREFIX};
use crate::api::reconnect::until_connected;

/// How long the cache is skipped after Redis gave no answer in time.
const REST: Duration = Duration::from_secs(1);

/// The shared cache, once connected.
pub struct Background {
    connection: Arc<OnceCell<SharedCache>>,
    resting_until: Mutex<Option<Instant>>,
}

impl Background {
    /// Connects to `url` in the background, trying again every second
    /// until Redis answers (or this is dropped).
    pub fn start(url: &str, bounds: SharedBounds) -> Background {
        let connection = Arc::new(OnceCell::new());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(connect(url.to_owned(), bounds, Arc::downgrade(&connection)));
            }
            Err(_) => tracing::warn!("no runtime to connect the shared cache in: it misses"),
        }
        Background {
            connection,
            resting_until: Mutex::new(None),
        }
    }

    pub async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        let shared = self.ready()?;
        self.bounded(shared.get(key)).await
    }

    pub async fn put(&self, key: &CacheKey, body: &Bytes) -> Result<(), CacheError> {
        let shared = self.ready()?;
        self.bounded(shared.put(key, body)).await.map(|_| ())
    }

    /// The connection, unless it is not made yet or resting.
    fn ready(&self) -> Result<&SharedCache, CacheError> {
        let shared = self.connection.get().ok_or(CacheError::NotConnected)?;
        let mut resting = self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        match *resting {
            Some(until) if Instant::now() < until => Err(CacheError::Resting),
            _ => {
                *resting = None;
                Ok(shared)
            }
        }
    }

    /// `call`'s answer within [`ANSWER_WITHIN`]; without one, or with an
    /// error (the client's own timeout, a refused connection), the cache
    /// rests, so a Redis that hangs or is gone costs one request a second
    /// at most [`ANSWER_WITHIN`], not every request.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        let failed = match tokio::time::timeout(ANSWER_WITHIN, call).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => CacheError::Redis(e),
            Err(_) => CacheError::NoAnswer(ANSWER_WITHIN),
        };
        let mut resting = self.resting_until.lock().unwrap_or_else(|e| e.into_inner());
        *resting = Some(Instant::now() + REST);
        Err(failed)
    }
}

/// Connects, trying again until Redis answers; stops when the cache is gone.
async fn connect(url: String, bounds: SharedBounds, cell: Weak<OnceCell<SharedCache>>) {
    let connected = until_connected(
        "the shared result cache",
        "runs are not cached until it does",
        || cell.strong_count() > 0,
        || SharedCache::connect(&url, PREFIX, bounds),
    )
    .await;
    if let (Some(shared), Some(cell)) = (connected, cell.upgrade()) {
        let _ = cell.set(shared);
    }
}
