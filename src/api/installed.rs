//! One view of the installed images, shared by `GET /languages` and
//! `GET /ready`: podman is asked at most once per interval however many
//! requests arrive, concurrent requests wait for the same question, and a
//! failure is kept for the interval too (a struggling podman is not asked
//! harder). Builds run in another process, so the view notices them within
//! the interval; a run that finds its image missing marks the view stale at
//! once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sandbox::{InstalledImage, Sandbox};

/// How long one view is reused.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How long podman gets to list images before it counts as not answering.
const DEADLINE: Duration = Duration::from_secs(10);

/// Why there is no view. The engine's own error text goes to the log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("podman is not answering (the server log says why)")]
    Failed,
    #[error("podman did not list its images within {} s", DEADLINE.as_secs())]
    TimedOut,
}

type View = Result<Arc<Vec<InstalledImage>>, ViewError>;

pub struct InstalledView {
    interval: Duration,
    last: tokio::sync::Mutex<Option<(Instant, View)>>,
    /// Times podman was asked, for tests and logs.
    asked: AtomicU64,
}

impl Default for InstalledView {
    fn default() -> Self {
        InstalledView::new(INTERVAL)
    }
}

impl InstalledView {
    pub fn new(interval: Duration) -> InstalledView {
        InstalledView {
            interval,
            last: tokio::sync::Mutex::new(None),
            asked: AtomicU64::new(0),
        }
    }

    /// The installed images, at most one interval old.
    pub async fn get(&self, sandbox: &dyn Sandbox) -> View {
        let mut last = self.last.lock().await;
        if let Some((at, view)) = &*last {
            if at.elapsed() < self.interval {
                return view.clone();
            }
        }
        self.asked.fetch_add(1, Ordering::Relaxed);
        let view = match tokio::time::timeout(DEADLINE, sandbox.images()).await {
            Ok(Ok(images)) => Ok(Arc::new(images)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "listing the installed images failed");
                Err(ViewError::Failed)
            }
            Err(_) => {
                tracing::warn!("podman did not list its images in time");
                Err(ViewError::TimedOut)
            }
        };
        *last = Some((Instant::now(), view.clone()));
        view
    }

    /// The next request asks podman again (an image was found missing).
    pub fn mark_stale(&self) {
        // A question under way is newer than what made the view stale.
        if let Ok(mut last) = self.last.try_lock() {
            *last = None;
        }
    }

    /// How many times podman has been asked.
    pub fn times_asked(&self) -> u64 {
        self.asked.load(Ordering::Relaxed)
    }
}
