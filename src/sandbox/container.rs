//! A live container and the promise that it goes away on every path.
//!
//! [`LiveContainer`] owns a created container (its name) and its slot.
//! Ending it (or dropping it, when the request is cancelled or panics) hands
//! both to a background task that kills and removes the container through
//! podman's service, retried, falling back to the CLI, and only then frees
//! the slot. The answer to the client never waits for this teardown.

use std::time::Duration;

use hyper::Method;
use tokio::sync::OwnedSemaphorePermit;

use super::engine::Engine;
use super::libpod::Libpod;

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Deadline of one removal call.
const REMOVE_DEADLINE: Duration = Duration::from_secs(30);
/// Removal attempts through the service before the CLI is asked.
const REMOVE_ATTEMPTS: u32 = 3;

pub struct LiveContainer {
    engine: Engine,
    api: Libpod,
    name: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl LiveContainer {
    /// Tracks container `name`, about to be created, holding `permit`.
    pub fn new(engine: Engine, api: Libpod, name: String, permit: OwnedSemaphorePermit) -> Self {
        engine.mark_live(&name);
        LiveContainer {
            engine,
            api,
            name,
            permit: Some(permit),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Holds `permit` from now on, releasing the one held so far (a warm
    /// container taken by a run trades the pool's slot for the run's).
    pub fn replace_permit(&mut self, permit: OwnedSemaphorePermit) {
        self.permit = Some(permit);
    }

    /// Hands the container to a background removal.
    pub fn end(mut self) {
        self.teardown(None);
    }

    /// Like [`LiveContainer::end`], but first gives the container up to
    /// `grace` to exit by itself (`exited` resolves when it has), which
    /// spares podman a kill.
    pub fn end_after(
        mut self,
        exited: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) {
        let exited = Box::pin(async move {
            let _ = tokio::time::timeout(grace, exited).await;
        });
        self.teardown(Some(exited));
    }

    fn teardown(&mut self, before: Option<BoxFuture>) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let remove = remove(
            self.engine.clone(),
            self.api.clone(),
            self.name.clone(),
            permit,
        );
        let task = async move {
            if let Some(before) = before {
                before.await;
            }
            remove.await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task);
            }
            // No runtime (process exit): the next start's sweep removes it.
            Err(_) => tracing::warn!(container = %self.name, "no runtime to remove container"),
        }
    }
}

impl Drop for LiveContainer {
    fn drop(&mut self) {
        // Reached with the permit still held only when the run was cut
        // short: the request was cancelled or the task panicked.
        self.teardown(None);
    }
}

async fn remove(engine: Engine, api: Libpod, name: String, permit: OwnedSemaphorePermit) {
    // force: a running container is killed at once (its stop timeout is 0).
    let path = format!("/containers/{name}?force=true&timeout=0");
    let mut gone = false;
    for attempt in 1..=REMOVE_ATTEMPTS {
        match api.call(Method::DELETE, &path, None, REMOVE_DEADLINE).await {
            Ok(_) => {
                gone = true;
                break;
            }
            // Never created (a request cancelled early) or already removed.
            Err(e) if e.is_not_found() => {
                gone = true;
                break;
            }
            Err(e) => {
                tracing::warn!(container = %name, attempt, error = %e, "container removal failed");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
    }
    if !gone {
        engine.remove(&name).await;
    }
    engine.mark_gone(&name);
    drop(permit);
}
