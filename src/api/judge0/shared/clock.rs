//! Redis's clock as this instance sees it: how far it is from this host's,
//! measured when connecting, so that a deadline this instance sets can be
//! checked by a script against Redis's own `TIME` (hosts' clocks differ).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Redis's clock minus this host's, in ms (shared by clones).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Clock {
    /// Measures the offset (`TIME`, taken as read half-way through the
    /// round trip).
    pub async fn set(&self, conn: &mut redis::aio::ConnectionManager) -> redis::RedisResult<()> {
        let before = local_ms();
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await?;
        let after = local_ms();
        let redis_ms = secs * 1000 + micros / 1000;
        self.offset_ms
            .store(redis_ms - (before + after) / 2, Ordering::Relaxed);
        Ok(())
    }

    /// `within` from now, on Redis's clock, in ms.
    pub fn deadline(&self, within: Duration) -> i64 {
        local_ms() + within.as_millis() as i64 + self.offset_ms.load(Ordering::Relaxed)
    }
}
