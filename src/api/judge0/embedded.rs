//! The embedded queue of Judge0's asynchronous API: accepted submissions
//! wait in a bounded channel, in this process's memory, and this
//! instance's workers take them from it; results are kept in the embedded
//! [`Store`]. A shutdown lets the workers finish what was accepted within
//! the drain deadline; what is left then is lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::backend::{run_submission, Accepted, Drained, QueueSettings, Refusal};
use super::callback::Callbacks;
use super::response::{timestamp, Verdict};
use super::store::{Record, Store};
use crate::api::state::AppState;

/// The channel, the store and this instance's workers.
pub struct Embedded {
    pub store: Store,
    /// Many workers take from one queue: a multi-consumer channel, so no
    /// worker holds a lock while it waits (tokio's mpsc has one receiver).
    tx: async_channel::Sender<String>,
    rx: async_channel::Receiver<String>,
    capacity: usize,
    running: AtomicUsize,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Embedded {
    /// Starts `settings.workers` workers, each running submissions with
    /// `state`'s sandbox and calling back through `callbacks`.
    pub fn start(state: &AppState, settings: QueueSettings, callbacks: Callbacks) -> Arc<Embedded> {
        let (tx, rx) = async_channel::bounded(settings.capacity.max(1));
        let embedded = Arc::new(Embedded {
            store: Store::new(settings.store),
            tx,
            rx,
            capacity: settings.capacity.max(1),
            running: AtomicUsize::default(),
            workers: Mutex::default(),
        });
        let handles: Vec<_> = (0..settings.workers.max(1))
            .map(|_| {
                let (state, callbacks) = (state.clone(), callbacks.clone());
                tokio::spawn(work(state, Arc::clone(&embedded), callbacks))
            })
            .collect();
        if let Ok(mut workers) = embedded.workers.try_lock() {
            *workers = handles;
        }
        embedded
    }

    /// Stores and queues `accepted` (all, or none: `Full` when the queue
    /// or the store has no room for them all); their tokens.
    pub fn submit(&self, accepted: Vec<Accepted>) -> Result<Vec<String>, Refusal> {
        if self.room() < accepted.len() {
            return Err(Refusal::Full);
        }
        let created_at = timestamp(time::OffsetDateTime::now_utc());
        let records: Vec<(String, Record)> = accepted
            .into_iter()
            .map(|a| {
                let token = uuid::Uuid::new_v4().to_string();
                let record = Record::new(a.submission, a.language_name, created_at.clone());
                (token, record)
            })
            .collect();
        let tokens: Vec<String> = records.iter().map(|(t, _)| t.clone()).collect();
        self.store.insert_all(records).map_err(|_| Refusal::Full)?;
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
        self.capacity.saturating_sub(self.tx.len())
    }

    /// Whether `count` more submissions fit in the queue and the store now.
    pub fn has_room(&self, count: usize) -> bool {
        self.room() >= count && self.store.could_take(count)
    }

    /// Queued and running submissions.
    pub fn load(&self) -> (usize, usize) {
        (self.tx.len(), self.running.load(Ordering::SeqCst))
    }

    /// Lets the workers finish what was accepted, until `deadline`; then
    /// stops them. What was lost.
    pub async fn drain(&self, deadline: Duration) -> Drained {
        let until = Instant::now() + deadline;
        loop {
            let (queued, running) = self.load();
            if queued + running == 0 || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (queued, running) = self.load();
        for worker in self.workers.lock().await.drain(..) {
            worker.abort();
        }
        Drained {
            lost: queued + running,
            handed_over: 0,
        }
    }
}

/// One worker: takes the next token, runs its submission, records the
/// verdict, calls back.
async fn work(state: AppState, embedded: Arc<Embedded>, callbacks: Callbacks) {
    loop {
        let Ok(token) = embedded.rx.recv().await else {
            return;
        };
        embedded.running.fetch_add(1, Ordering::SeqCst);
        let Some(submission) = embedded.store.processing(&token) else {
            embedded.running.fetch_sub(1, Ordering::SeqCst);
            continue;
        };
        let queue_wait = embedded
            .store
            .read(&token, |r| r.queued_at.elapsed())
            .unwrap_or_default();
        let verdict = run_submission(&state, &token, &submission, queue_wait).await;
        let finished_at = timestamp(time::OffsetDateTime::now_utc());
        if let Some(url) = submission.callback_url.clone() {
            let body = super::response::callback_body(&token, &submission, &verdict, &finished_at);
            callbacks.send(url, body);
        }
        // The store's the only hold left: it can let the job's files go.
        drop(submission);
        embedded.store.finish(&token, verdict, finished_at);
        embedded.running.fetch_sub(1, Ordering::SeqCst);
    }
}
