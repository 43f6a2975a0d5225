//! The shared store of Judge0's asynchronous API (`--store redis://…`):
//! the queue and the results in one Redis that every instance given the
//! same URL uses. Its layout, under one prefix (`whipcode:judge0:`):
//!
//! - `queue`: a Stream, one entry per accepted submission (`token`, and
//!   `job`: what an instance needs to run it); the consumer group
//!   `workers` hands each entry to one instance's worker. An entry leaves
//!   the stream when its result is written, so its length is what waits or
//!   runs.
//! - `sub:{token}`: the submission's [`View`] as JSON; without a TTL while
//!   pending, with the keep time as its TTL once final.
//! - `held` (token → bytes), `bytes`, `finished` (token → when, ms) and
//!   `finished-bytes`: what the bounds are checked against.
//!
//! Admission ([`ADMIT`]) and a final result ([`FINISH`]) are Lua scripts,
//! so each is atomic whichever instance runs it: the bounds hold across
//! instances, and the first final result of a token wins.

use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::backend::Refusal;
use super::view::View;

/// Admits submissions under the shared bounds, all or none.
pub const ADMIT: &str = include_str!("admit.lua");
/// Writes a final result unless one is written; acknowledges the entry.
pub const FINISH: &str = include_str!("finish.lua");
/// The consumer group every instance's workers read the stream in.
pub const GROUP: &str = "workers";

/// Where each part of the store is kept.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub fn stream(&self) -> String {
        format!("{}queue", self.prefix)
    }

    /// The prefix of every submission's key.
    pub fn sub_prefix(&self) -> String {
        format!("{}sub:", self.prefix)
    }

    pub fn sub(&self, token: &str) -> String {
        format!("{}{token}", self.sub_prefix())
    }

    /// The keys both scripts start with: held, bytes, finished, finished bytes.
    fn accounts(&self) -> [String; 4] {
        ["held", "bytes", "finished", "finished-bytes"].map(|k| format!("{}{k}", self.prefix))
    }
}

/// The bounds every instance shares (as the embedded store's, plus the
/// queue's capacity).
#[derive(Debug, Clone, Copy)]
pub struct SharedBounds {
    /// Most submissions waiting or running.
    pub capacity: usize,
    /// Most records, pending and finished.
    pub records: usize,
    pub bytes: usize,
    pub keep: std::time::Duration,
}

/// One submission to admit.
#[derive(Debug, Clone)]
pub struct Entry {
    pub token: String,
    /// What an instance needs to run it (JSON).
    pub job: String,
    /// How it shows while pending.
    pub view: View,
}

/// A connection to the shared store.
#[derive(Clone)]
pub struct Shared {
    conn: ConnectionManager,
    keys: Keys,
    bounds: SharedBounds,
    admit: std::sync::Arc<redis::Script>,
    finish: std::sync::Arc<redis::Script>,
}

impl Shared {
    /// Connects to `url` (reconnecting by itself afterwards) and makes sure
    /// the stream and its consumer group exist.
    pub async fn connect(
        url: &str,
        prefix: &str,
        bounds: SharedBounds,
    ) -> redis::RedisResult<Shared> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let shared = Shared {
            conn,
            keys: Keys::new(prefix),
            bounds,
            admit: std::sync::Arc::new(redis::Script::new(ADMIT)),
            finish: std::sync::Arc::new(redis::Script::new(FINISH)),
        };
        shared.ensure_group().await?;
        Ok(shared)
    }

    /// The consumer group, created with the stream unless it exists.
    async fn ensure_group(&self) -> redis::RedisResult<()> {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.stream())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

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
            .arg(self.keys.sub_prefix());
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
        if !admitted {
            // "queue" or "store": which bound; both are Judge0's 503.
            tracing::debug!(full = ?ids.first(), "the shared Judge0 store refused submissions");
            return Err(Refusal::Full);
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
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(written == 1)
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
}

/// The store cannot be reached: a new submission is refused with this.
fn unavailable(e: redis::RedisError) -> Refusal {
    tracing::warn!(error = %e, "the shared Judge0 store (Redis) did not answer");
    Refusal::Unavailable(
        "the shared submission store cannot be reached: try again shortly, or use wait=true".into(),
    )
}
