//! A connection to the shared store: where each part is kept, the bounds
//! every instance shares, and the scripts, loaded once.

use redis::aio::ConnectionManager;

/// Admits submissions under the shared bounds, all or none.
pub const ADMIT: &str = concat!(include_str!("accounts.lua"), include_str!("admit.lua"));
/// Writes a final result unless one is written; acknowledges the entry.
pub const FINISH: &str = concat!(include_str!("accounts.lua"), include_str!("finish.lua"));
/// Shows a pending submission as Processing (never a final one).
pub const PROCESSING: &str = include_str!("processing.lua");
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
    pub(super) fn accounts(&self) -> [String; 4] {
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

/// A connection to the shared store.
#[derive(Clone)]
pub struct Shared {
    client: redis::Client,
    pub(super) conn: ConnectionManager,
    pub(super) keys: Keys,
    pub(super) bounds: SharedBounds,
    pub(super) admit: std::sync::Arc<redis::Script>,
    pub(super) finish: std::sync::Arc<redis::Script>,
    pub(super) processing: std::sync::Arc<redis::Script>,
    pub(super) clock: super::clock::Clock,
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
        let conn = manager(&client).await?;
        let shared = Shared {
            client,
            conn,
            keys: Keys::new(prefix),
            bounds,
            admit: std::sync::Arc::new(redis::Script::new(ADMIT)),
            finish: std::sync::Arc::new(redis::Script::new(FINISH)),
            processing: std::sync::Arc::new(redis::Script::new(PROCESSING)),
            clock: super::clock::Clock::default(),
        };
        shared.ensure_group().await?;
        shared.clock.set(&mut shared.conn.clone()).await?;
        Ok(shared)
    }

    /// A connection of its own (reconnecting by itself), for a worker's
    /// blocking reads: a blocked command holds up the commands behind it on
    /// a multiplexed connection.
    pub async fn dedicated(&self) -> redis::RedisResult<ConnectionManager> {
        manager(&self.client).await
    }

    /// Whether Redis answers now (`PING`); why not.
    pub async fn reachable(&self) -> Result<(), String> {
        let (mut conn, ping) = (self.conn.clone(), redis::cmd("PING"));
        let answer = ping.query_async::<String>(&mut conn);
        // Short: a balancer's health check waits for this.
        match tokio::time::timeout(std::time::Duration::from_millis(500), answer).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 0.5 s".into()),
        }
    }

    /// The consumer group, created with the stream unless it exists (again,
    /// after a Redis that kept nothing restarted).
    pub async fn ensure_group(&self) -> redis::RedisResult<()> {
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
}

/// A connection that reconnects by itself; each command waits at most 5 s
/// (longer than a worker's blocking read) and a reconnection 2 s.
async fn manager(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
        .set_response_timeout(Some(std::time::Duration::from_secs(5)))
        .set_number_of_retries(2);
    ConnectionManager::new_with_config(client.clone(), config).await
}
