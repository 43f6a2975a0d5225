//! Final results this instance could not write because Redis did not
//! answer: kept here, in a bounded buffer, and written when it answers
//! again (each worker tries before it takes its next submission). Beyond
//! the bound a result is dropped, logged and counted; its submission's
//! entry stays in the stream, so another instance runs it again once its
//! claim time has passed: a result is lost only if Redis lost the entry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::connection::Shared;
use crate::api::judge0::view::View;

/// Most bytes of results waiting for Redis (each counted as its JSON).
pub const UNWRITTEN_BYTES: usize = 16 << 20;

/// One result waiting to be written.
#[derive(Clone)]
struct Result {
    token: String,
    view: View,
    /// Its stream entry (none: a `wait=true` run's result).
    id: Option<String>,
    bytes: usize,
}

/// The buffer.
#[derive(Default)]
pub struct Unwritten {
    waiting: Mutex<(VecDeque<Result>, usize)>,
    /// Held by the one worker writing at a time (the others go on).
    writer: tokio::sync::Mutex<()>,
    dropped: AtomicU64,
}

impl Unwritten {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Result>, usize)> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `token`'s final result `view` (of stream entry `id`) until it
    /// can be written; beyond the bound, drops it (logged and counted).
    pub fn keep(&self, token: &str, view: View, id: Option<&str>) {
        let bytes = serde_json::to_string(&view).map_or(0, |j| j.len());
        let mut waiting = self.lock();
        if waiting.1 + bytes > UNWRITTEN_BYTES {
            drop(waiting);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%token, "a Judge0 result could not be written to Redis nor kept \
                for later (the buffer is full): its submission runs again elsewhere");
            return;
        }
        waiting.1 += bytes;
        waiting.0.push_back(Result {
            token: token.to_owned(),
            view,
            id: id.map(str::to_owned),
            bytes,
        });
    }

    /// Writes what waits, oldest first, until Redis fails again (what is
    /// left waits on); nothing when another worker is writing. A result
    /// leaves the buffer once written (so it is counted until then); the
    /// buffer's lock is never held while Redis is asked.
    pub async fn write_to(&self, shared: &Shared) {
        let Ok(_writer) = self.writer.try_lock() else {
            return;
        };
        loop {
            let Some(next) = self.lock().0.front().cloned() else {
                return;
            };
            let written = shared.finish(&next.token, &next.view, next.id.as_deref());
            if written.await.is_err() {
                return;
            }
            let mut waiting = self.lock();
            waiting.0.pop_front();
            waiting.1 -= next.bytes;
            tracing::info!(token = %next.token, "a Judge0 result kept during an outage is written");
        }
    }

    /// Results waiting now.
    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Results dropped since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
