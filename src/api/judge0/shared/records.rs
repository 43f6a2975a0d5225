//! Submissions in and results out: admission under the shared bounds, a
//! final result (the first wins), and reads by token, each one command or
//! one script, so atomic whichever instance runs it.

use redis::streams::StreamInfoGroupsReply;
use redis::AsyncCommands;

use super::connection::{Shared, GROUP};
use crate::api::judge0::backend::Refusal;
use crate::api::judge0::verdict::Status;
use crate::api::judge0::view::View;

/// One submission to admit.
#[derive(Debug, Clone)]
pub struct Entry {
    pub token: String,
    /// What an instance needs to run it (JSON).
    pub job: String,
    /// How it shows while pending.
    pub view: View,
}

impl Shared {
    /// Admits `entries`, all or none; their stream entry ids.
    pub async fn admit(&self, entries: &[Entry]) -> Result<Vec<String>, Refusal> {
        let mut invocation = self.admit.prepare_invoke();
        invocation.key(self.keys.stream());
        for key in self.keys.accounts() {
            invocation.key(key);
        }
        let b = &self.bounds;
        invocation
            .arg(b.capacity)
            .arg(b.records)
            .arg(b.bytes)
            .arg(b.keep.as_millis() as u64)
            .arg(self.keys.sub_prefix())
            .arg(self.clock.deadline(ADMIT_WITHIN));
        for entry in entries {
            let view = serde_json::to_string(&entry.view).unwrap_or_default();
            let bytes = entry.job.len() + view.len();
            invocation.key(self.keys.sub(&entry.token));
            invocation
                .arg(&entry.token)
                .arg(&entry.job)
                .arg(view)
                .arg(bytes);
        }
        let answer: Vec<redis::Value> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let admitted = matches!(answer.first(), Some(redis::Value::Int(1)));
        let ids: Vec<String> = answer
            .into_iter()
            .skip(1)
            .filter_map(|v| redis::from_redis_value(v).ok())
            .collect();
        match ids.first().map(String::as_str) {
            _ if admitted => {}
            Some("late") => return Err(late()),
            // "queue" or "store": which bound; both are Judge0's 503.
            full => {
                tracing::debug!(?full, "the shared Judge0 store refused submissions");
                return Err(Refusal::Full);
            }
        }
        Ok(ids)
    }

    /// Writes `view`, `token`'s final result, unless one is written
    /// (whether this one was), and acknowledges its stream entry `id`
    /// (none: a result that had no entry, a `wait=true` run's).
    pub async fn finish(
        &self,
        token: &str,
        view: &View,
        id: Option<&str>,
    ) -> redis::RedisResult<bool> {
        let view = serde_json::to_string(view).unwrap_or_default();
        let mut invocation = self.finish.prepare_invoke();
        invocation.key(self.keys.sub(token));
        for key in self.keys.accounts() {
            invocation.key(key);
        }
        invocation.key(self.keys.stream());
        let written: i64 = invocation
            .arg(token)
            .arg(&view)
            .arg(view.len())
            .arg(self.bounds.keep.as_millis() as u64)
            .arg(GROUP)
            .arg(id.unwrap_or(""))
            .arg(self.bounds.records)
            .arg(self.bounds.bytes)
            .arg(self.keys.sub_prefix())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(written == 1)
    }

    /// Shows `token`, taken by a worker, as Processing (`pending`: its view
    /// as admitted), unless its final result is written.
    pub async fn processing(&self, token: &str, pending: View) -> redis::RedisResult<()> {
        let view =
            serde_json::to_string(&pending.with_status(Status::Processing)).unwrap_or_default();
        let _: i64 = self
            .processing
            .key(self.keys.sub(token))
            .arg(view)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// `token`'s view, if it is known (and not expired).
    pub async fn read(&self, token: &str) -> redis::RedisResult<Option<View>> {
        let text: Option<String> = self.conn.clone().get(self.keys.sub(token)).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Submissions waiting or running, whichever instance took them.
    pub async fn depth(&self) -> redis::RedisResult<usize> {
        self.conn.clone().xlen(self.keys.stream()).await
    }

    /// The shared queue now: submissions waiting, running (taken by a
    /// worker of any instance), how long the oldest waiting one has waited,
    /// and the bytes the store holds; two round trips.
    pub async fn load(&self) -> redis::RedisResult<Depth> {
        let stream = self.keys.stream();
        let mut conn = self.conn.clone();
        let (length, pending, groups, bytes): (
            usize,
            redis::Value,
            StreamInfoGroupsReply,
            Option<usize>,
        ) = redis::pipe()
            .xlen(&stream)
            .cmd("XPENDING")
            .arg(&stream)
            .arg(GROUP)
            .xinfo_groups(&stream)
            .get(&self.keys.accounts()[1])
            .query_async(&mut conn)
            .await?;
        // XPENDING's summary: [count, first id, last id, consumers].
        let running = match pending {
            redis::Value::Array(parts) => parts
                .first()
                .and_then(|c| redis::from_redis_value::<usize>(c.clone()).ok())
                .unwrap_or(0),
            _ => 0,
        };
        // The oldest waiting: the first entry after the last one delivered.
        let delivered = groups.groups.iter().find(|g| g.name == GROUP);
        let after = delivered.map_or("-".to_owned(), |g| format!("({}", g.last_delivered_id));
        let first: redis::streams::StreamRangeReply =
            conn.xrange_count(&stream, after, "+", 1).await?;
        Ok(Depth {
            queued: length.saturating_sub(running),
            running,
            oldest: first.ids.first().and_then(|entry| entry_age(&entry.id)),
            bytes: bytes.unwrap_or(0),
        })
    }
}

/// The shared queue at one moment ([`Shared::load`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub queued: usize,
    pub running: usize,
    /// How long the oldest entry no worker has taken yet has waited.
    pub oldest: Option<std::time::Duration>,
    pub bytes: usize,
}

/// How long ago a stream entry was added: its id starts with Redis's clock
/// then, in milliseconds.
pub fn entry_age(id: &str) -> Option<std::time::Duration> {
    let added: u64 = id.split('-').next()?.parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(std::time::Duration::from_millis(now.saturating_sub(added)))
}

/// How long after asking an admission may still be made: less than a
/// command's time to answer (5 s), so that one the instance gave up on
/// (answering its client 503) is never made afterwards by a Redis that was
/// slow to run it.
const ADMIT_WITHIN: std::time::Duration = std::time::Duration::from_secs(4);

/// An admission Redis ran too late.
fn late() -> Refusal {
    tracing::warn!("the shared Judge0 store (Redis) ran an admission too late: refused");
    Refusal::Unavailable(
        "the shared submission store answered too slowly: not queued, try again shortly".into(),
    )
}

/// The store cannot be reached: a new submission is refused with this.
pub fn unavailable(e: redis::RedisError) -> Refusal {
    tracing::warn!(error = %e, "the shared Judge0 store (Redis) did not answer");
    Refusal::Unavailable(
        "the shared submission store cannot be reached: try again shortly, or use wait=true".into(),
    )
}
