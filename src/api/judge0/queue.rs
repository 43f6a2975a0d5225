//! Judge0's asynchronous API as the handlers see it, whatever keeps it: the
//! queue of accepted submissions, the workers that run them, and the
//! results by token. One [`Backend`] keeps them; today the embedded one
//! ([`super::embedded`]: a channel and a store in this process's memory),
//! and a shared one can sit beside it behind the same methods (every one
//! async and able to say the backend is unavailable).
//!
//! The workers are at most half of `--max-concurrent` (at least one), so
//! the synchronous APIs always have the other half of the containers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use super::backend::{Accepted, AsReceived, QueueSettings, Refusal};
use super::callback::Callbacks;
use super::embedded::Embedded;
use super::error::Judge0Error;
use super::request::Query;
use super::response::Verdict;
use super::statistics::Statistics;
use super::store::Record;
use crate::api::metrics::Judge0Load;
use crate::api::state::AppState;

/// What keeps the queue and the results.
pub enum Backend {
    /// In this process's memory: one instance.
    Embedded(Arc<Embedded>),
}

/// The asynchronous API's queue, store and workers.
pub struct Service {
    backend: Backend,
    pub settings: QueueSettings,
    pub callbacks: Callbacks,
}

impl Service {
    /// The embedded backend, its workers started with `state`'s sandbox.
    pub fn start(state: &AppState, settings: QueueSettings, callbacks: Callbacks) -> Arc<Service> {
        let embedded = Embedded::start(state, settings, callbacks.clone());
        Arc::new(Service {
            backend: Backend::Embedded(embedded),
            settings,
            callbacks,
        })
    }

    /// Whether submissions are queued with their requests as received
    /// ([`Accepted::received`]): not by the embedded backend, whose own
    /// workers run the prepared submission.
    pub fn keeps_requests(&self) -> bool {
        match &self.backend {
            Backend::Embedded(_) => false,
        }
    }

    /// Room for `count` more submissions now (asked before a request's
    /// archives are unpacked; `submit` checks again).
    pub async fn room_for(&self, count: usize) -> Result<(), Refusal> {
        match &self.backend {
            Backend::Embedded(e) if e.has_room(count) => Ok(()),
            Backend::Embedded(_) => Err(Refusal::Full),
        }
    }

    /// Queues `accepted` (all, or none); their tokens, in order.
    pub async fn submit(&self, accepted: Vec<Accepted>) -> Result<Vec<String>, Refusal> {
        match &self.backend {
            Backend::Embedded(e) => e.submit(accepted),
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
        }
    }

    /// A `wait=true` submission's result, readable by its token afterwards
    /// as in Judge0 (when there is room).
    pub async fn keep_finished(&self, token: String, record: Record, verdict: Verdict, at: String) {
        match &self.backend {
            Backend::Embedded(e) => e.store.insert_finished(token, record, verdict, at),
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
                }
            }
        }
    }

    /// The submissions counted as they finished, for `GET /statistics`.
    pub fn statistics(&self) -> &Statistics {
        match &self.backend {
            Backend::Embedded(e) => &e.store.statistics,
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
    /// stops them. Returns how many accepted submissions were lost.
    pub async fn drain(&self, deadline: Duration) -> usize {
        match &self.backend {
            Backend::Embedded(e) => e.drain(deadline).await,
        }
    }
}
