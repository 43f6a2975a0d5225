//! The embedded result store of Judge0's asynchronous API: every
//! submission by its token, from In Queue through Processing to its
//! verdict, in this process's memory. Bounded in count and in bytes; a
//! finished submission is kept for `keep`, then forgotten (the oldest
//! finished ones go first when room is needed). Nothing survives a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::request::Submission;
use super::response::{Shown, Verdict};
use super::statistics::Statistics;
use super::verdict::Status;

/// How a stored submission stands.
#[derive(Debug)]
pub enum State {
    Queued,
    Processing,
    Done {
        verdict: Verdict,
        finished_at: String,
    },
}

/// One stored submission.
#[derive(Debug)]
pub struct Record {
    pub submission: Arc<Submission>,
    pub language_name: String,
    pub created_at: String,
    /// When it was accepted (for the queue wait in the logs).
    pub queued_at: Instant,
    pub state: State,
    /// What it holds, counted against the store's bytes.
    bytes: usize,
    /// When it finished (for expiry).
    done_at: Option<Instant>,
}

impl Record {
    /// Drops the job's files (never shown again once it finished) when no
    /// run holds the submission any more; the bytes that frees.
    fn let_files_go(&mut self) -> usize {
        let Some(submission) = Arc::get_mut(&mut self.submission) else {
            return 0;
        };
        let files = std::mem::take(&mut submission.job.files);
        let freed: usize = files.iter().map(|(n, c)| n.len() + c.len()).sum();
        let freed = freed.min(self.bytes);
        self.bytes -= freed;
        freed
    }

    pub fn new(submission: Arc<Submission>, language_name: String, created_at: String) -> Record {
        let bytes = 512
            + submission.source_code.as_ref().map_or(0, Vec::len)
            + submission.stdin.len()
            + submission.expected_output.as_ref().map_or(0, Vec::len)
            + submission
                .job
                .files
                .iter()
                .map(|(n, c)| n.len() + c.len())
                .sum::<usize>();
        Record {
            submission,
            language_name,
            created_at,
            queued_at: Instant::now(),
            state: State::Queued,
            bytes,
            done_at: None,
        }
    }

    /// The record as Judge0 shows it, through `render`.
    pub fn shown<'a>(&'a self, token: &'a str, pending: &'a Verdict) -> Shown<'a> {
        let (verdict, finished_at) = match &self.state {
            State::Done {
                verdict,
                finished_at,
            } => (verdict, Some(finished_at.as_str())),
            State::Queued | State::Processing => (pending, None),
        };
        Shown {
            token,
            submission: &self.submission,
            verdict,
            language_name: &self.language_name,
            created_at: &self.created_at,
            finished_at,
        }
    }

    /// The status a pending record shows.
    pub fn pending_status(&self) -> Status {
        match self.state {
            State::Processing => Status::Processing,
            _ => Status::InQueue,
        }
    }
}

/// The store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most records, pending and finished.
    pub records: usize,
    /// Most bytes they may hold.
    pub bytes: usize,
    /// How long a finished record is kept.
    pub keep: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<String, Record>,
    /// Finished tokens, oldest first.
    finished: VecDeque<String>,
    bytes: usize,
}

/// The store. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    bounds: Bounds,
    /// Every submission that finishes, counted for `GET /statistics`.
    pub statistics: Arc<Statistics>,
}

/// Why a record could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Store {
    pub fn new(bounds: Bounds) -> Store {
        Store {
            inner: Arc::default(),
            bounds,
            statistics: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Room for `count` more records of `bytes` in all, making it by
    /// forgetting expired, then the oldest finished records.
    fn make_room(&self, inner: &mut Inner, count: usize, bytes: usize) -> bool {
        let now = Instant::now();
        let fits = |inner: &Inner| {
            inner.records.len() + count <= self.bounds.records
                && inner.bytes + bytes <= self.bounds.bytes
        };
        // What forgetting every finished record would free: if even that
        // is not enough, only expired ones go (no one's results are thrown
        // away for a request that cannot be taken anyway).
        let freeable = freeable(inner);
        let could_fit = inner.records.len() - inner.finished.len() + count <= self.bounds.records
            && inner.bytes - freeable.min(inner.bytes) + bytes <= self.bounds.bytes;
        while let Some(token) = inner.finished.front().cloned() {
            let expired = inner.records.get(&token).is_none_or(|r| {
                r.done_at
                    .is_some_and(|at| now.duration_since(at) >= self.bounds.keep)
            });
            if !expired && (fits(inner) || !could_fit) {
                break;
            }
            inner.finished.pop_front();
            if let Some(record) = inner.records.remove(&token) {
                inner.bytes -= record.bytes;
            }
        }
        fits(inner)
    }

    /// Whether `count` more records could be taken, forgetting finished
    /// ones if need be (nothing is forgotten by asking).
    pub fn could_take(&self, count: usize) -> bool {
        let inner = self.lock();
        let freeable = freeable(&inner);
        inner.records.len() - inner.finished.len() + count <= self.bounds.records
            && inner.bytes - freeable.min(inner.bytes) < self.bounds.bytes
    }

    /// Stores new records (all or none).
    pub fn insert_all(&self, records: Vec<(String, Record)>) -> Result<(), Full> {
        let mut inner = self.lock();
        let bytes = records.iter().map(|(_, r)| r.bytes).sum();
        if !self.make_room(&mut inner, records.len(), bytes) {
            return Err(Full);
        }
        for (token, record) in records {
            inner.bytes += record.bytes;
            let finished = record.done_at.is_some();
            if finished {
                inner.finished.push_back(token.clone());
            }
            inner.records.insert(token, record);
        }
        Ok(())
    }

    /// Marks a record as being run.
    pub fn processing(&self, token: &str) -> Option<Arc<Submission>> {
        let mut inner = self.lock();
        let record = inner.records.get_mut(token)?;
        record.state = State::Processing;
        Some(record.submission.clone())
    }

    /// Records a verdict (a record forgotten meanwhile stays forgotten).
    pub fn finish(&self, token: &str, verdict: Verdict, finished_at: String) {
        let mut inner = self.lock();
        let output = verdict.bytes();
        let Some(record) = inner.records.get_mut(token) else {
            return;
        };
        self.counted(record, &verdict);
        record.state = State::Done {
            verdict,
            finished_at,
        };
        // Its files (up to 16 MiB unpacked) are not shown again: a finished
        // record keeps its texts and verdict, so that results stay readable
        // rather than being forgotten to make room. Only when no run still
        // holds the submission (its worker lets go before finishing).
        let freed = record.let_files_go();
        record.bytes += output;
        record.done_at = Some(Instant::now());
        inner.bytes = inner.bytes - freed.min(inner.bytes) + output;
        inner.finished.push_back(token.to_owned());
    }

    /// Reads a record, if it is known (and not expired).
    pub fn read<T>(&self, token: &str, f: impl FnOnce(&Record) -> T) -> Option<T> {
        let inner = self.lock();
        let record = inner.records.get(token)?;
        if record
            .done_at
            .is_some_and(|at| at.elapsed() >= self.bounds.keep)
        {
            return None;
        }
        Some(f(record))
    }

    /// Records pending (queued or running) and finished.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let pending = inner
            .records
            .values()
            .filter(|r| r.done_at.is_none())
            .count();
        (pending, inner.records.len() - pending)
    }

    /// How long the oldest submission still waiting for a worker has waited.
    pub fn oldest_queued(&self) -> Option<Duration> {
        let inner = self.lock();
        inner
            .records
            .values()
            .filter(|r| matches!(r.state, State::Queued))
            .map(|r| r.queued_at.elapsed())
            .max()
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// A finished record stored at once (a `wait=true` submission, readable
    /// by its token afterwards); nothing when there is no room.
    pub fn insert_finished(&self, token: String, mut record: Record, verdict: Verdict, at: String) {
        self.counted(&record, &verdict);
        record.let_files_go();
        record.bytes += verdict.bytes();
        record.state = State::Done {
            verdict,
            finished_at: at,
        };
        record.done_at = Some(Instant::now());
        let _ = self.insert_all(vec![(token, record)]);
    }
}

impl Store {
    fn counted(&self, record: &Record, verdict: &Verdict) {
        let submission = &record.submission;
        let (flavor, id) = (submission.flavor, submission.language_id);
        let now = time::OffsetDateTime::now_utc();
        let name = &record.language_name;
        self.statistics
            .record(flavor, id, name, verdict.status, now);
    }
}

/// What forgetting every finished record would free.
fn freeable(inner: &Inner) -> usize {
    inner
        .finished
        .iter()
        .filter_map(|t| inner.records.get(t))
        .map(|r| r.bytes)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: &crate::api::state::AppState, source: &str) -> Record {
        let config = super::super::config::Config::of(state, None);
        let body = serde_json::json!({"language_id": 71, "source_code": source});
        let submission = super::super::request::prepare(
            state,
            super::super::flavor::Flavor::Ce,
            &config,
            &body,
            false,
            &mut { super::super::files::REQUEST_BUDGET },
        )
        .unwrap();
        Record::new(Arc::new(submission), "Python".into(), "t".into())
    }

    #[test]
    fn a_request_that_cannot_fit_forgets_no_ones_results() {
        let state = crate::api::state::AppState::for_tests();
        let store = Store::new(Bounds {
            records: 10,
            bytes: 16384,
            keep: Duration::from_secs(60),
        });
        let kept = record(&state, "print(1)");
        store.insert_finished(
            "old".into(),
            kept,
            Verdict::pending(Status::Accepted),
            "t".into(),
        );
        // A record counts its source twice (the code and the job's file).
        let huge = record(&state, &"x".repeat(9000));
        assert_eq!(store.insert_all(vec![("new".into(), huge)]), Err(Full));
        assert!(
            store.read("old", |_| ()).is_some(),
            "the finished result stays"
        );
        // One that fits once the old result goes: it goes.
        let big = record(&state, &"y".repeat(7800));
        assert_eq!(store.insert_all(vec![("big".into(), big)]), Ok(()));
        assert!(store.read("old", |_| ()).is_none());
        assert_eq!(store.counts(), (1, 0));
    }

    #[test]
    fn a_finished_record_lets_its_files_go_and_keeps_its_texts() {
        let state = crate::api::state::AppState::for_tests();
        let store = Store::new(Bounds {
            records: 10,
            bytes: 1 << 20,
            keep: Duration::from_secs(60),
        });
        let queued = record(&state, &"z".repeat(50_000));
        store.insert_all(vec![("t".into(), queued)]).unwrap();
        let before = store.bytes();
        assert!(before > 100_000, "the code and its job's copy: {before}");
        let running = store.processing("t").unwrap();
        drop(running);
        store.finish("t", Verdict::pending(Status::Accepted), "t".into());
        let after = store.bytes();
        assert!(after < before - 49_000, "{before} → {after}");
        let code = store.read("t", |r| r.submission.source_code.as_ref().map(Vec::len));
        assert_eq!(code, Some(Some(50_000)));
        // While a run still holds it, nothing is taken from under it.
        let held = record(&state, "print(2)");
        store.insert_all(vec![("h".into(), held)]).unwrap();
        let running = store.processing("h").unwrap();
        store.finish("h", Verdict::pending(Status::Accepted), "t".into());
        assert_eq!(running.job.files.len(), 1);
    }
}
