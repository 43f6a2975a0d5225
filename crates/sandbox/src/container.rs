//! A live container and the promise that it goes away on every path.
//!
//! [`LiveContainer`] owns a created container (its name) and its slot.
//! Ending it (or dropping it, when the request is cancelled or panics) hands
//! both to a background task that kills and removes the container through
//! the [`Registry`], and only then frees the slot. The answer to the client never waits for this teardown.

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::job::BoxFuture;
use super::registry::Registry;

pub struct LiveContainer {
    registry: Registry,
    name: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl LiveContainer {
    /// Tracks container `name`, about to be created with host id range
    /// `range`, holding `permit`.
    pub fn new(
        registry: Registry,
        name: String,
        range: Option<u32>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        registry.track(&name, range);
        LiveContainer {
            registry,
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

    fn teardown(&mut self, before: Option<BoxFuture<'static, ()>>) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let (registry, name) = (self.registry.clone(), self.name.clone());
        let task = async move {
            if let Some(before) = before {
                before.await;
            }
            registry.remove(&name).await;
            drop(permit);
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
