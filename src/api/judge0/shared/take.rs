//! How an instance's worker takes its next submission from the shared
//! queue: first an entry another instance took and has gone quiet on for
//! longer than the claim time (it crashed, or lost Redis), then a new one.
//! While it runs one, the worker renews its hold, so that a long run (or a
//! long wait for a container) is never taken over while its instance lives.
//!
//! Reads do not block in Redis (`XREADGROUP` without `BLOCK`): the
//! connection is multiplexed, and a blocked read would hold up every other
//! command on it; a worker that finds nothing waits a moment and asks again.

use std::time::Duration;

use redis::streams::{StreamAutoClaimOptions, StreamClaimOptions, StreamId, StreamReadOptions};
use redis::AsyncCommands;

use super::connection::{Shared, GROUP};

/// An entry a worker took: its id in the stream, its token and its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub id: String,
    pub token: String,
    pub job: String,
}

impl Taken {
    fn of(entry: StreamId) -> Option<Taken> {
        Some(Taken {
            token: entry.get("token")?,
            job: entry.get("job")?,
            id: entry.id,
        })
    }
}

impl Shared {
    /// The next entry for `consumer` (an instance's name): one idle longer
    /// than `claim_after` under another consumer, else a new one; `None`
    /// when there is neither.
    pub async fn take(
        &self,
        consumer: &str,
        claim_after: Duration,
    ) -> redis::RedisResult<Option<Taken>> {
        let mut conn = self.conn.clone();
        let stream = self.keys.stream();
        let idle = claim_after.as_millis() as u64;
        let claimed: redis::streams::StreamAutoClaimReply = conn
            .xautoclaim_options(
                &stream,
                GROUP,
                consumer,
                idle,
                "0-0",
                StreamAutoClaimOptions::default().count(1),
            )
            .await?;
        if let Some(entry) = claimed.claimed.into_iter().find_map(Taken::of) {
            tracing::info!(token = %entry.token, "took over a Judge0 submission another instance left");
            return Ok(Some(entry));
        }
        let options = StreamReadOptions::default().group(GROUP, consumer).count(1);
        let read: Option<redis::streams::StreamReadReply> =
            conn.xread_options(&[&stream], &[">"], &options).await?;
        Ok(read
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .find_map(Taken::of))
    }

    /// Renews `consumer`'s hold on `id` (its idle time starts again).
    pub async fn renew(&self, consumer: &str, id: &str) -> redis::RedisResult<()> {
        let _: redis::Value = self
            .conn
            .clone()
            .xclaim_options(
                self.keys.stream(),
                GROUP,
                consumer,
                0,
                &[id],
                StreamClaimOptions::default().with_justid(),
            )
            .await?;
        Ok(())
    }
}
