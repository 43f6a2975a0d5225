//! Refusals logged at most once per [`WARN_EVERY`] per kind, with a count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often each kind of refusal may be logged.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The kinds of refusal, each logged at most once per [`WARN_EVERY`].
#[derive(Default)]
pub(super) struct Warnings {
    pub(super) accept_failed: Warning,
    pub(super) not_proxy: Warning,
    pub(super) per_client: Warning,
    pub(super) full: Warning,
}

#[derive(Default)]
pub(super) struct Warning {
    last: Mutex<Option<Instant>>,
    unlogged: AtomicU64,
}

impl Warning {
    pub(super) fn warn(&self, message: std::fmt::Arguments<'_>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        if unlogged == 0 {
            tracing::warn!("{message}");
        } else {
            tracing::warn!("{message} (and {unlogged} more like it not logged)");
        }
    }
}
