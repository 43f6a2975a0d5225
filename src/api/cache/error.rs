//! Why the shared cache had no answer.

use std::time::Duration;

/// Why the shared cache had no answer; the handler takes it as a miss.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("the shared cache (Redis) is not connected yet")]
    NotConnected,
    #[error("the shared cache (Redis) gave no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("the shared cache (Redis) is skipped for a moment after no answer")]
    Resting,
    #[error("the shared cache (Redis) failed: {0}")]
    Redis(#[source] redis::RedisError),
}
