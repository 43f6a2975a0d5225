//! The shared backend of Judge0's asynchronous API: accepted submissions
//! go to the shared queue, this instance's workers take from it
//! ([`super::worker`]), and any instance answers any token from Redis.
//!
//! The connection is made in the background and kept: an instance starts
//! (and serves its synchronous APIs) while Redis is down, and refuses new
//! asynchronous submissions, saying why, until it answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::timeout;

use super::connection::{Shared, SharedBounds};
use super::instance::{Instance, StoreSettings};
use super::job::Job;
use super::records::{unavailable, Entry};
use super::worker::work;
use crate::api::judge0::backend::{Accepted, Drained, QueueSettings, Refusal};
use crate::api::judge0::callback::Callbacks;
use crate::api::judge0::config::Async;
use crate::api::judge0::error::Judge0Error;
use crate::api::judge0::request::Query;
use crate::api::judge0::response::{timestamp, Shown, Verdict};
use crate::api::judge0::statistics::Statistics;
use crate::api::judge0::store::Record;
use crate::api::judge0::verdict::Status;
use crate::api::judge0::view::View;
use crate::api::metrics::Judge0Load;
use crate::api::reconnect::until_connected;
use crate::api::state::AppState;

/// Every key of the shared store starts with this.
pub const PREFIX: &str = "whipcode:judge0:";

/// How long a consumer of the queue that holds nothing may be quiet
/// before it is taken for an instance gone (each process is one; live ones
/// ask every few seconds), or `--store-claim-after` if longer.
const GONE: Duration = Duration::from_secs(3600);

/// The longest a request or a scrape waits on Redis for what it can do
/// without (a `wait=true` result's copy, the queue's depth).
const QUICK: Duration = Duration::from_secs(1);

/// The shared backend: this instance in it, and its workers.
pub struct SharedQueue {
    instance: Arc<Instance>,
    connector: tokio::task::JoinHandle<()>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// How the shared store is doing, for `GET /ready`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    /// `redis`.
    pub kind: &'static str,
    pub reachable: bool,
    /// Why it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Final results waiting to be written to it.
    pub unwritten: usize,
}

impl SharedQueue {
    /// Connects in the background and starts `settings.workers` workers.
    pub fn start(
        state: &AppState,
        settings: QueueSettings,
        store: StoreSettings,
        callbacks: Callbacks,
        config: Async,
    ) -> Arc<SharedQueue> {
        let instance = Arc::new(Instance::new(store, config));
        let bounds = SharedBounds {
            capacity: settings.capacity.max(1),
            records: settings.store.records,
            bytes: settings.store.bytes,
            keep: settings.store.keep,
        };
        let connector = tokio::spawn(connect(Arc::clone(&instance), bounds));
        let workers = (0..settings.workers.max(1))
            .map(|_| {
                let (state, callbacks) = (state.clone(), callbacks.clone());
                tokio::spawn(work(state, Arc::clone(&instance), callbacks))
            })
            .collect();
        Arc::new(SharedQueue {
            instance,
            connector,
            workers: Mutex::new(workers),
        })
    }

    fn connection(&self) -> Result<&Shared, Refusal> {
        self.instance.connection()
    }

    /// Its workers take no more entries (they finish what they run).
    pub fn stop_taking(&self) {
        self.instance.stop();
    }

    /// What this instance finished, for `GET /statistics`.
    pub fn statistics(&self) -> &Statistics {
        &self.instance.statistics
    }

    /// Room for `count` more in the shared queue now (`submit` checks again,
    /// atomically).
    pub async fn room_for(&self, count: usize) -> Result<(), Refusal> {
        let shared = self.connection()?;
        let depth = shared.depth().await.map_err(unavailable)?;
        if depth + count > shared.bounds.capacity {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Admits `accepted` to the shared queue, all or none; their tokens.
    pub async fn submit(&self, accepted: Vec<Accepted>) -> Result<Vec<String>, Refusal> {
        let shared = self.connection()?;
        let created_at = timestamp(time::OffsetDateTime::now_utc());
        let entries: Vec<Entry> = accepted
            .into_iter()
            .map(|a| entry(a, &created_at))
            .collect::<Result<_, _>>()?;
        shared.admit(&entries).await?;
        Ok(entries.into_iter().map(|e| e.token).collect())
    }

    /// A submission as Judge0 shows it, from whichever instance ran it.
    pub async fn shown(&self, token: &str, query: &Query) -> Option<Result<Value, Judge0Error>> {
        let shared = match self.connection() {
            Ok(shared) => shared,
            Err(refusal) => return Some(Err(refusal.into())),
        };
        match shared.read(token).await {
            Ok(view) => view.map(|v| v.render(&query.fields, query.base64_encoded)),
            Err(e) => Some(Err(unavailable(e).into())),
        }
    }

    /// A `wait=true` run's result, readable by its token from any instance
    /// afterwards (when the store has room).
    pub async fn keep_finished(&self, token: &str, record: &Record, verdict: &Verdict, at: &str) {
        let shown = Shown {
            finished_at: Some(at),
            ..record.shown(token, verdict)
        };
        let view = View::of(&shown);
        self.instance.count(
            record.submission.flavor,
            record.submission.language_id,
            &record.language_name,
            verdict.status,
        );
        // The client waits for this: a Redis that hangs must not hold its
        // answer (a result written late is then written again, harmlessly).
        let written = match self.connection() {
            Ok(shared) => timeout(QUICK, shared.finish(token, &view, None)).await,
            Err(_) => Ok(Err(redis::RedisError::from(std::io::Error::other(
                "not connected",
            )))),
        };
        if !matches!(written, Ok(Ok(_))) {
            self.instance.unwritten.keep(token, view, None);
        }
    }

    /// The shared queue now; its depth is every instance's.
    pub async fn load(&self, workers: usize) -> Judge0Load {
        // A scrape does not wait on a Redis that hangs: it says so.
        let depth = match self.connection() {
            Ok(shared) => timeout(QUICK, shared.load())
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        let store_up = depth.is_some();
        let depth = depth.unwrap_or_default();
        Judge0Load {
            queued: depth.queued,
            running: depth.running,
            workers,
            oldest: depth.oldest,
            stored_bytes: depth.bytes,
            unwritten: self.instance.unwritten.len(),
            dropped: self.instance.unwritten.dropped(),
            store_up: Some(store_up),
        }
    }

    /// Whether Redis answers, for `GET /ready`.
    pub async fn health(&self) -> StoreHealth {
        let reachable = match self.connection() {
            Ok(shared) => shared.reachable().await,
            Err(Refusal::Unavailable(why)) => Err(why),
            Err(Refusal::Full) => Ok(()),
        };
        StoreHealth {
            kind: "redis",
            reachable: reachable.is_ok(),
            detail: reachable.err(),
            unwritten: self.instance.unwritten.len(),
        }
    }

    /// Stops taking submissions, lets this instance's runs finish until
    /// `deadline`, then stops its workers and lets go of what they had not
    /// finished: other instances take those over at their next look.
    /// Nothing accepted is lost here.
    pub async fn drain(&self, deadline: Duration) -> Drained {
        let instance = &self.instance;
        instance.stop();
        let until = Instant::now() + deadline;
        let workers: Vec<_> = self.workers.lock().await.drain(..).collect();
        // Each worker ends once it sees the stop: after its run, or after
        // the wait in Redis it is in. One aborted in that wait could be
        // given an entry as it stops, held by no run and so not let go:
        // untouched until --store-claim-after.
        while !workers.iter().all(|w| w.is_finished()) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let unfinished = instance.held_entries();
        self.connector.abort();
        for worker in &workers {
            worker.abort();
        }
        for worker in workers {
            let _ = worker.await;
        }
        let Ok(shared) = self.connection() else {
            return Drained::default();
        };
        let settings = &instance.settings;
        for id in &unfinished {
            let _ = shared
                .release(&settings.consumer, id, settings.claim_after)
                .await;
        }
        instance.unwritten.write_to(shared).await;
        if !instance.unwritten.is_empty() {
            tracing::warn!(
                unwritten = instance.unwritten.len(),
                "stopping with Judge0 results Redis has not taken: their submissions run again \
                 on other instances after --store-claim-after"
            );
        }
        Drained {
            lost: 0,
            handed_over: unfinished.len(),
        }
    }
}

/// What the shared queue carries for one accepted submission.
fn entry(accepted: Accepted, created_at: &str) -> Result<Entry, Refusal> {
    let Some(received) = accepted.received else {
        // The handlers keep every request for this backend.
        return Err(Refusal::Unavailable(
            "this submission was not kept as received".into(),
        ));
    };
    let token = uuid::Uuid::new_v4().to_string();
    let (submission, name) = (&accepted.submission, &accepted.language_name);
    let job = Job::new(
        (received.flavor, received.base64_encoded),
        received.body,
        submission,
        name,
        created_at,
    );
    let pending = Verdict::pending(Status::InQueue);
    let view = View::of(&Shown {
        token: &token,
        submission,
        verdict: &pending,
        language_name: name,
        created_at,
        finished_at: None,
    });
    Ok(Entry {
        token,
        job: job.to_json(),
        view,
    })
}

/// Connects, trying again until Redis answers; then forgets the consumers
/// of instances gone.
async fn connect(instance: Arc<Instance>, bounds: SharedBounds) {
    let Some(shared) = until_connected(
        "the shared Judge0 store",
        "asynchronous submissions are refused until it does",
        || true,
        || Shared::connect(&instance.settings.url, PREFIX, bounds),
    )
    .await
    else {
        return;
    };
    let (idle, own) = (
        GONE.max(instance.settings.claim_after),
        &instance.settings.consumer,
    );
    if let Ok(n @ 1..) = shared.forget_gone_consumers(idle, own).await {
        tracing::info!(consumers = n, "forgot the consumers of instances gone");
    }
    let _ = instance.connection.set(shared);
}
