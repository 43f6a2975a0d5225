//! Judge0's asynchronous API as the handlers see it, whatever keeps it: the
//! queue of accepted submissions, the workers that run them, and the
//! results by token. One [`Backend`] keeps them: the embedded one
//! ([`super::embedded`]: a channel and a store in this process's memory)
//! or the shared one ([`super::shared`]: Redis, for several instances),
//! behind the same methods (every one async and able to say the backend is
//! unavailable).
//!
//! The workers are at most half of `--max-concurrent` (at least one), so
//! the synchronous APIs always have the other half of the containers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use super::backend::{Accepted, AsReceived, Drained, QueueSettings, Refusal};
use super::callback::Callbacks;
use super::embedded::Embedded;
use super::error::Judge0Error;
use super::request::Query;
use super::response::Verdict;
use super::shared::{SharedQueue, StoreHealth, StoreSettings};
use super::statistics::Statistics;
use super::store::Record;
use crate::api::metrics::Judge0Load;
use crate::api::state::AppState;

/// What keeps the queue and the results.
pub enum Backend {
    /// In this process's memory: one instance.
    Embedded(Arc<Embedded>),
    /// In Redis, shared by every instance given its URL.
    Shared(Arc<SharedQueue>),
}

/// The asynchronous API's queue, store and workers.
pub struct Service {
    backend: Backend,
    pub settings: QueueSettings,
    pub callbacks: Callbacks,
}

impl Service {
    /// The shared backend with `store`, else the embedded one; its workers
    /// started with `state`'s sandbox.
    pub fn start(
        state: &AppState,
        settings: QueueSettings,
        store: Option<StoreSettings>,
        callbacks: Callbacks,
    ) -> Arc<Service> {
        let config = super::config::Async {
            queue: settings.capacity,
            callbacks: callbacks.enabled(),
        };
        let backend = match store {
            Some(store) => Backend::Shared(SharedQueue::start(
                state,
                settings,
                store,
                callbacks.clone(),
                config,
            )),
            None => Backend::Embedded(Embedded::start(state, settings, callbacks.clone())),
        };
        Arc::new(Service {
            backend,
            settings,
            callbacks,
        })
    }

    /// Whether submissions are queued with their requests as received
    /// ([`Accepted::received`]): not by the embedded backend, whose own
    /// workers run the prepared submission.
    pub fn keeps_requests(&self) -> bool {
        matches!(self.backend, Backend::Shared(_))
    }

    /// Room for `count` more submissions now (asked before a request's
    /// archives are unpacked; `submit` checks again).
    pub async fn room_for(&self, count: usize) -> Result<(), Refusal> {
        match &self.backend {
            Backend::Embedded(e) if e.has_room(count) => Ok(()),
            Backend::Embedded(_) => Err(Refusal::Full),
            Backend::Shared(s) => s.room_for(count).await,
        }
    }

    /// Queues `accepted` (all, or none); their tokens, in order.
    pub async fn submit(&self, accepted: Vec<Accepted>) -> Result<Vec<String>, Refusal> {
        match &self.backend {
            Backend::Embedded(e) => e.submit(accepted),
            Backend::Shared(s) => s.submit(accepted).await,
        }
    }

    /// A submission as Judge0 shows it; `None` when unknown (or expired).
    pub async fn shown(&self, token: &str, query: &Query) -> Option<Result<Value, Judge0Error>> {
        match &self.backend {
            Backend::Embedded(e) => e.store.read(token, |record| {
                let pending = Verdict::pending(record.pending_status());
                record
                    .shown(token, &pending)
                    .render(&query.fields, query.base64_encoded)
            }),
            Backend::Shared(s) => s.shown(token, query).await,
        }
    }

    /// A `wait=true` submission's result, readable by its token afterwards
    /// as in Judge0 (when there is room).
    pub async fn keep_finished(&self, token: String, record: Record, verdict: Verdict, at: String) {
        match &self.backend {
            Backend::Embedded(e) => e.store.insert_finished(token, record, verdict, at),
            Backend::Shared(s) => s.keep_finished(&token, &record, &verdict, &at).await,
        }
    }

    /// The queue and the store now, for `/workers`, `/statistics` and the
    /// metrics.
    pub async fn load(&self) -> Judge0Load {
        let workers = self.settings.workers.max(1);
        match &self.backend {
            Backend::Embedded(e) => {
                let (queued, running) = e.load();
                Judge0Load {
                    queued,
                    running,
                    workers,
                    oldest: e.store.oldest_queued(),
                    stored_bytes: e.store.bytes(),
                    ..Judge0Load::default()
                }
            }
            Backend::Shared(s) => s.load(workers).await,
        }
    }

    /// The submissions counted as they finished, for `GET /statistics`.
    pub fn statistics(&self) -> &Statistics {
        match &self.backend {
            Backend::Embedded(e) => &e.store.statistics,
            Backend::Shared(s) => s.statistics(),
        }
    }

    /// What `GET /config_info` says of this queue.
    pub fn config(&self) -> super::config::Async {
        super::config::Async {
            queue: self.settings.capacity,
            callbacks: self.callbacks.enabled(),
        }
    }

    /// Lets the workers finish what was accepted, until `deadline`; then
    /// stops them. What was lost, or handed to other instances.
    pub async fn drain(&self, deadline: Duration) -> Drained {
        match &self.backend {
            Backend::Embedded(e) => e.drain(deadline).await,
            Backend::Shared(s) => s.drain(deadline).await,
        }
    }

    /// Stops the workers taking more queued submissions from a queue other
    /// instances share (a shutdown begins: they finish what they run; the
    /// rest is another instance's). The embedded queue is this instance's
    /// alone: its workers go on with what it accepted.
    pub fn stop_taking(&self) {
        if let Backend::Shared(s) = &self.backend {
            s.stop_taking();
        }
    }

    /// Whether a submission accepted now survives this instance stopping
    /// (kept in the shared store): the embedded queue refuses new ones once
    /// a shutdown begins, as they would be lost at its end.
    pub fn survives_shutdown(&self) -> bool {
        matches!(self.backend, Backend::Shared(_))
    }

    /// How the shared store is doing (none for the embedded one), for
    /// `GET /ready`.
    pub async fn store_health(&self) -> Option<StoreHealth> {
        match &self.backend {
            Backend::Embedded(_) => None,
            Backend::Shared(s) => Some(s.health().await),
        }
    }
}
