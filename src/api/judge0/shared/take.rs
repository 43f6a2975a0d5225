//! How an instance's worker takes its next submission from the shared
//! queue: first an entry another instance took and has gone quiet on for
//! longer than the claim time (it crashed, or lost Redis), then a new one.
//! While it runs one, the worker renews its hold, so that a long run (or a
//! long wait for a container) is never taken over while its instance lives.
//!
//! A worker waits for a new entry in Redis (`XREADGROUP … BLOCK`) on a
//! connection of its own ([`Shared::dedicated`]): on the shared,
//! multiplexed one a blocked read would hold up every other command.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimOptions, StreamClaimOptions, StreamId, StreamReadOptions};
use redis::AsyncCommands;

use super::connection::{Shared, GROUP};

/// The most `XAUTOCLAIM` pages one look goes through (ten pending entries
/// each): more than any queue's capacity allows pending.
const MOST_PAGES: usize = 1000;

/// An entry a worker took: its id in the stream, its token and its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub id: String,
    pub token: String,
    pub job: String,
    /// How many times a worker took it, this one included (more than one:
    /// taken over from an instance that went quiet).
    pub deliveries: u64,
}

impl Taken {
    fn of(entry: StreamId) -> Option<Taken> {
        Some(Taken {
            token: entry.get("token")?,
            job: entry.get("job")?,
            id: entry.id,
            deliveries: 1,
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
        self.take_on(&mut self.conn.clone(), consumer, claim_after, None)
            .await
    }

    /// As [`Shared::take`], on `conn` (a [`Shared::dedicated`] one),
    /// waiting up to `block` for a new entry when there is none.
    pub async fn take_waiting(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        claim_after: Duration,
        block: Duration,
    ) -> redis::RedisResult<Option<Taken>> {
        self.take_on(conn, consumer, claim_after, Some(block)).await
    }

    async fn take_on(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        claim_after: Duration,
        block: Option<Duration>,
    ) -> redis::RedisResult<Option<Taken>> {
        let stream = self.keys.stream();
        if let Some(entry) = self.take_over(conn, consumer, claim_after).await? {
            return Ok(Some(entry));
        }
        let mut options = StreamReadOptions::default().group(GROUP, consumer).count(1);
        if let Some(block) = block {
            options = options.block(block.as_millis() as usize);
        }
        let read: Option<redis::streams::StreamReadReply> =
            conn.xread_options(&[&stream], &[">"], &options).await?;
        Ok(read
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .find_map(Taken::of))
    }

    /// An entry idle longer than `claim_after` under another consumer,
    /// taken over by `consumer`. Redis looks at ten pending entries per
    /// `XAUTOCLAIM` asked for one: the cursor is followed through the whole
    /// list (every entry waiting or running: at most the queue's capacity),
    /// so a quiet one behind ten live ones is found too.
    async fn take_over(
        &self,
        conn: &mut ConnectionManager,
        consumer: &str,
        claim_after: Duration,
    ) -> redis::RedisResult<Option<Taken>> {
        let (stream, idle) = (self.keys.stream(), claim_after.as_millis() as u64);
        let mut cursor = "0-0".to_owned();
        for _ in 0..MOST_PAGES {
            let claimed: redis::streams::StreamAutoClaimReply = conn
                .xautoclaim_options(
                    &stream,
                    GROUP,
                    consumer,
                    idle,
                    &cursor,
                    StreamAutoClaimOptions::default().count(1),
                )
                .await?;
            if let Some(mut entry) = claimed.claimed.into_iter().find_map(Taken::of) {
                entry.deliveries = self.deliveries(conn, &entry.id).await?;
                tracing::info!(token = %entry.token, deliveries = entry.deliveries,
                    "took over a Judge0 submission another instance left");
                return Ok(Some(entry));
            }
            if claimed.next_stream_id == "0-0" {
                break;
            }
            cursor = claimed.next_stream_id;
        }
        Ok(None)
    }

    /// Lets go of `consumer`'s entry `id` (a worker stopping before it ran
    /// it, or stopped while it ran): shown as quiet for `claim_after`
    /// already, so another instance takes it over at its next look.
    pub async fn release(
        &self,
        consumer: &str,
        id: &str,
        claim_after: Duration,
    ) -> redis::RedisResult<()> {
        let quiet = claim_after.as_millis() as usize + 1000;
        self.claim(consumer, id, StreamClaimOptions::default().idle(quiet))
            .await
    }

    /// How many times entry `id` has been taken.
    async fn deliveries(&self, conn: &mut ConnectionManager, id: &str) -> redis::RedisResult<u64> {
        let reply: redis::streams::StreamPendingCountReply = conn
            .xpending_count(self.keys.stream(), GROUP, id, id, 1)
            .await?;
        Ok(reply.ids.first().map_or(1, |p| p.times_delivered as u64))
    }

    /// Renews `consumer`'s hold on `id` (its idle time starts again).
    pub async fn renew(&self, consumer: &str, id: &str) -> redis::RedisResult<()> {
        self.claim(consumer, id, StreamClaimOptions::default())
            .await
    }

    /// `XCLAIM` of `id` for `consumer` whatever its idle time, with
    /// `options`, answering ids only.
    async fn claim(
        &self,
        consumer: &str,
        id: &str,
        options: StreamClaimOptions,
    ) -> redis::RedisResult<()> {
        let options = options.with_justid();
        let stream = self.keys.stream();
        let mut conn = self.conn.clone();
        let _: redis::Value = conn
            .xclaim_options(stream, GROUP, consumer, 0, &[id], options)
            .await?;
        Ok(())
    }
}

impl Shared {
    /// Removes from the group the consumers that hold nothing and have not
    /// been heard from for `idle` (the processes of instances gone: each
    /// process is a consumer of its own); `keep` is never removed. How
    /// many were removed.
    pub async fn forget_gone_consumers(
        &self,
        idle: Duration,
        keep: &str,
    ) -> redis::RedisResult<usize> {
        let mut conn = self.conn.clone();
        let stream = self.keys.stream();
        let reply: redis::streams::StreamInfoConsumersReply =
            conn.xinfo_consumers(&stream, GROUP).await?;
        let gone = reply
            .consumers
            .into_iter()
            .filter(|c| c.pending == 0 && c.idle as u128 > idle.as_millis() && c.name != keep);
        let mut removed = 0;
        for consumer in gone {
            // Its pending count is read again by Redis: one that took an
            // entry meanwhile would lose it, and it was idle for `idle`.
            let _: i64 = conn
                .xgroup_delconsumer(&stream, GROUP, &consumer.name)
                .await?;
            removed += 1;
        }
        Ok(removed)
    }
}
