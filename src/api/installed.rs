//! One view of the installed images, shared by `GET /languages` and
//! `GET /ready`: podman is asked at most once per interval however many
//! requests arrive. The question runs in a task of its own, so a client
//! that goes away does not cancel it (and cannot make the next request ask
//! again); concurrent requests wait for the same answer, and a failure is
//! kept for the interval too (a struggling podman is not asked harder).
//! Builds run in another process, so the view notices them within the
//! interval; a run that finds its image missing marks the view stale.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::sandbox::{InstalledImage, Sandbox};

/// How long one view is reused.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How long podman gets to list images before it counts as not answering.
const DEADLINE: Duration = Duration::from_secs(10);

/// Why there is no view, in the service's words; the engine's own error
/// text goes to the log only. Shown as the `detail` of `/ready` and of
/// `/languages`' 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("podman is not answering (the server log says why)")]
    Failed,
    #[error("podman did not list its images within {} s", DEADLINE.as_secs())]
    TimedOut,
}

type View = Result<Arc<Vec<InstalledImage>>, ViewError>;

#[derive(Default)]
struct State {
    last: Option<(Instant, View)>,
    /// The question under way, if any.
    asking: Option<watch::Receiver<Option<View>>>,
}

pub struct InstalledView {
    interval: Duration,
    state: Mutex<State>,
    /// Set when a run found an image missing: the next request asks again.
    stale: AtomicBool,
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
            state: Mutex::new(State::default()),
            stale: AtomicBool::new(false),
            asked: AtomicU64::new(0),
        }
    }

    /// The installed images, at most one interval old.
    pub async fn get(self: &Arc<Self>, sandbox: &Arc<dyn Sandbox>) -> View {
        self.within(sandbox, Duration::ZERO).await
    }

    /// The installed images, at most one interval old; or, when the last
    /// view was a list at most `grace` old, that one at once while a fresh
    /// one is asked for in the background. For a run's lookup, which must
    /// not wait for podman's listing: a run whose image has gone since
    /// fails with its own 503 and marks the view stale (then this waits).
    pub async fn within(self: &Arc<Self>, sandbox: &Arc<dyn Sandbox>, grace: Duration) -> View {
        let mut answer = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let stale = self.stale.swap(false, Ordering::Relaxed);
            let mut at_once = None;
            if let (Some((at, view)), false) = (&state.last, stale) {
                if at.elapsed() < self.interval {
                    return view.clone();
                }
                if view.is_ok() && at.elapsed() < grace {
                    at_once = Some(view.clone());
                }
            }
            let asking = match &state.asking {
                Some(asking) => asking.clone(),
                None => {
                    let (tell, asking) = watch::channel(None);
                    state.asking = Some(asking.clone());
                    tokio::spawn(Arc::clone(self).ask(Arc::clone(sandbox), tell));
                    asking
                }
            };
            if let Some(view) = at_once {
                return view;
            }
            asking
        };
        let view = match answer.wait_for(Option::is_some).await {
            Ok(view) => view.clone().unwrap_or(Err(ViewError::Failed)),
            Err(_) => Err(ViewError::Failed),
        };
        view
    }

    async fn ask(self: Arc<Self>, sandbox: Arc<dyn Sandbox>, tell: watch::Sender<Option<View>>) {
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
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.last = Some((Instant::now(), view.clone()));
            state.asking = None;
        }
        let _ = tell.send(Some(view));
    }

    /// The next request asks podman again (an image was found missing).
    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// How many times podman has been asked.
    pub fn times_asked(&self) -> u64 {
        self.asked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{BoxFuture, RunOutcome, RunSpec, SandboxError};

    /// Lists nothing, slowly, counting the questions.
    #[derive(Default)]
    struct Slow {
        asked: AtomicU64,
    }

    impl Sandbox for Slow {
        fn run(&self, _: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
            Box::pin(async {
                Err(SandboxError::Engine(crate::sandbox::EngineError::failed(
                    "none",
                )))
            })
        }

        fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
            Box::pin(async {
                self.asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(Vec::new())
            })
        }
    }

    #[tokio::test]
    async fn within_a_grace_a_run_gets_the_last_list_at_once_while_it_is_refreshed() {
        let slow = Arc::new(Slow::default());
        let sandbox: Arc<dyn Sandbox> = slow.clone();
        let view = Arc::new(InstalledView::new(Duration::from_millis(50)));
        assert!(view.get(&sandbox).await.is_ok());
        tokio::time::sleep(Duration::from_millis(80)).await;
        let started = Instant::now();
        assert!(view.within(&sandbox, Duration::from_secs(60)).await.is_ok());
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "did not wait for podman"
        );
        // The refresh is under way: a plain get waits for it, no new question.
        assert!(view.get(&sandbox).await.is_ok());
        assert_eq!(slow.asked.load(Ordering::SeqCst), 2);
        // Marked stale (an image went missing), it waits for a fresh list.
        view.mark_stale();
        let started = Instant::now();
        assert!(view.within(&sandbox, Duration::from_secs(60)).await.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(400));
    }
}
