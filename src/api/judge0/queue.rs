//! The embedded queue of Judge0's asynchronous API: accepted submissions
//! wait in a bounded channel and a fixed set of workers runs them through
//! the sandbox, the same gate every other run takes. The workers are at
//! most half of `--max-concurrent` (at least one), so the synchronous APIs
//! always have the other half of the containers. A shutdown lets the
//! workers finish what was accepted within the drain deadline; what is left
//! then is lost (this store lives in memory).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::callback::Callbacks;
use super::request::Submission;
use super::response::{judge, timestamp, Verdict};
use super::store::{Bounds, Full, Record, Store};
use super::verdict::Status;
use crate::api::job::RunError;
use crate::api::metrics::Api;
use crate::api::state::AppState;

/// How the queue is sized, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Most submissions waiting or running.
    pub capacity: usize,
    pub workers: usize,
    pub store: Bounds,
}

/// The asynchronous API's queue, store and workers.
pub struct Service {
    pub store: Store,
    /// Many workers take from one queue: a multi-consumer channel, so no
    /// worker holds a lock while it waits (tokio's mpsc has one receiver).
    tx: async_channel::Sender<String>,
    rx: async_channel::Receiver<String>,
    pub settings: QueueSettings,
    running: Arc<AtomicUsize>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub callbacks: Callbacks,
}

impl Service {
    /// Starts the workers, each running submissions with `state`'s sandbox.
    pub fn start(state: &AppState, settings: QueueSettings, callbacks: Callbacks) -> Arc<Service> {
        let (tx, rx) = async_channel::bounded(settings.capacity.max(1));
        let service = Arc::new(Service {
            store: Store::new(settings.store),
            tx,
            rx,
            settings,
            running: Arc::default(),
            workers: Mutex::default(),
            callbacks,
        });
        let handles: Vec<_> = (0..settings.workers.max(1))
            .map(|_| tokio::spawn(work(state.clone(), Arc::clone(&service))))
            .collect();
        if let Ok(mut workers) = service.workers.try_lock() {
            *workers = handles;
        }
        service
    }

    /// Stores and queues `submissions` (all, or none: 503 when the queue
    /// or the store has no room for them all); their tokens.
    pub fn submit(&self, submissions: Vec<(Arc<Submission>, String)>) -> Result<Vec<String>, Full> {
        if self.room() < submissions.len() {
            return Err(Full);
        }
        let created_at = timestamp(time::OffsetDateTime::now_utc());
        let records: Vec<(String, Record)> = submissions
            .into_iter()
            .map(|(submission, name)| {
                let token = uuid::Uuid::new_v4().to_string();
                (token, Record::new(submission, name, created_at.clone()))
            })
            .collect();
        let tokens: Vec<String> = records.iter().map(|(t, _)| t.clone()).collect();
        self.store.insert_all(records)?;
        for token in &tokens {
            // Room was checked above and only this path sends: a full
            // channel here is a race with another submitter, whose records
            // are stored; this one's are then finished as refused.
            if self.tx.try_send(token.clone()).is_err() {
                self.store.finish(
                    token,
                    Verdict::refused("the queue filled up while this was being queued"),
                    timestamp(time::OffsetDateTime::now_utc()),
                );
            }
        }
        Ok(tokens)
    }

    /// Submissions the queue has room for.
    fn room(&self) -> usize {
        self.settings.capacity.max(1).saturating_sub(self.tx.len())
    }

    /// Whether `count` more submissions fit in the queue and the store now
    /// (checked before a request's archives are unpacked; `submit` checks
    /// again).
    pub fn has_room(&self, count: usize) -> bool {
        self.room() >= count && self.store.could_take(count)
    }

    /// What `GET /config_info` says of this queue.
    pub fn config(&self) -> super::config::Async {
        super::config::Async {
            queue: self.settings.capacity,
            callbacks: self.callbacks.enabled(),
        }
    }

    /// Queued and running submissions, and the workers.
    pub fn load(&self) -> (usize, usize, usize) {
        let running = self.running.load(Ordering::SeqCst);
        let queued = self.tx.len();
        (queued, running, self.settings.workers.max(1))
    }

    /// Lets the workers finish what was accepted, until `deadline`; then
    /// stops them. Returns how many accepted submissions were lost.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let until = Instant::now() + deadline;
        loop {
            let (queued, running, _) = self.load();
            if queued + running == 0 || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (queued, running, _) = self.load();
        for worker in self.workers.lock().await.drain(..) {
            worker.abort();
        }
        queued + running
    }
}

/// One worker: takes the next token, runs its submission, records the
/// verdict, calls back.
async fn work(state: AppState, service: Arc<Service>) {
    loop {
        let Ok(token) = service.rx.recv().await else {
            return;
        };
        service.running.fetch_add(1, Ordering::SeqCst);
        let Some(submission) = service.store.processing(&token) else {
            service.running.fetch_sub(1, Ordering::SeqCst);
            continue;
        };
        let queue_wait = service
            .store
            .read(&token, |r| r.queued_at.elapsed())
            .unwrap_or_default();
        let started = Instant::now();
        // Every container slot taken (by synchronous runs, say): this one
        // waits its turn again rather than failing; the last try counts.
        let in_flight = state.metrics.run_started(Api::Judge0);
        let outcome = loop {
            let outcome = submission
                .job
                .clone()
                .attempt(state.sandbox.as_ref(), state.limits, &state.images, None)
                .await;
            match outcome {
                Err(RunError::Busy { .. }) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => break other.map_err(crate::api::error::ApiError::from),
            }
        };
        state
            .metrics
            .run_finished(Api::Judge0, &submission.job.language.name, &outcome);
        drop(in_flight);
        let verdict = match &outcome {
            Ok(outcome) => judge(&submission, outcome),
            Err(e) => Verdict::refused(&e.to_string()),
        };
        tracing::info!(
            %token,
            queue_wait_ms = queue_wait.as_millis() as u64,
            status = verdict.status.id(),
            run_ms = started.elapsed().as_millis() as u64,
            "judge0 submission finished"
        );
        let finished_at = timestamp(time::OffsetDateTime::now_utc());
        if let Some(url) = submission.callback_url.clone() {
            let body = super::response::callback_body(&token, &submission, &verdict, &finished_at);
            service.callbacks.send(url, body);
        }
        // The store's the only hold left: it can let the job's files go.
        drop(submission);
        service.store.finish(&token, verdict, finished_at);
        service.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Verdict {
    /// A submission that could not be run: Judge0's Internal Error, why in
    /// its message.
    pub fn refused(why: &str) -> Verdict {
        Verdict {
            message: Some(why.to_owned()),
            ..Verdict::pending(Status::InternalError)
        }
    }
}
