//! A live container and the promise that it goes away on every path.
//!
//! [`LiveContainer`] owns the `podman run` process and the container slot.
//! Ending it (or dropping it, when the request is cancelled or panics) hands
//! both to a background task that waits for podman's own `--rm`, or kills and
//! removes the container by name, and only then frees the slot. The answer to
//! the client never waits for this teardown.

use std::time::Duration;

use tokio::process::Child;
use tokio::sync::OwnedSemaphorePermit;

use super::engine::Engine;

/// How long podman gets to tear a finished container down by itself.
const TEARDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// How long a killed container's podman process gets before the kill is repeated.
const KILL_RETRY_EVERY: Duration = Duration::from_secs(10);
/// Kill attempts before the podman process itself is killed.
const KILL_ATTEMPTS: u32 = 3;

/// How the run ended, which decides how the container is taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The runner reported the program's end; `--rm` removes the container.
    Reported,
    /// Timeout, output cap, protocol error or cancellation: kill it by name.
    Kill,
}

pub struct LiveContainer {
    engine: Engine,
    name: String,
    process: Option<Child>,
    permit: Option<OwnedSemaphorePermit>,
}

impl LiveContainer {
    /// Tracks a container whose `podman run` process has just started.
    pub fn new(engine: Engine, name: String, process: Child, permit: OwnedSemaphorePermit) -> Self {
        LiveContainer {
            engine,
            name,
            process: Some(process),
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

    pub fn process(&mut self) -> &mut Child {
        self.process
            .as_mut()
            .expect("process is present until the end")
    }

    /// Waits for podman to exit by itself (bounded); its exit status.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let process = self.process.as_mut()?;
        tokio::time::timeout(deadline, process.wait())
            .await
            .ok()?
            .ok()
    }

    /// Hands the container to a background teardown.
    pub fn end(mut self, ending: Ending) {
        self.teardown(ending);
    }

    fn teardown(&mut self, ending: Ending) {
        let (Some(process), Some(permit)) = (self.process.take(), self.permit.take()) else {
            return;
        };
        let engine = self.engine.clone();
        let name = self.name.clone();
        let task = teardown(engine.clone(), name.clone(), process, permit, ending);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task);
            }
            // No runtime (process exit): the next start's sweep removes it.
            Err(_) => tracing::warn!(container = %name, "no runtime to remove container"),
        }
    }
}

impl Drop for LiveContainer {
    fn drop(&mut self) {
        // Reached with the process still owned only when the run was cut
        // short: the request was cancelled or the task panicked.
        self.teardown(Ending::Kill);
    }
}

async fn teardown(
    engine: Engine,
    name: String,
    mut process: Child,
    permit: OwnedSemaphorePermit,
    ending: Ending,
) {
    // A removal can race podman still creating the container (a request
    // cancelled early), so a kill is retried until the podman process ends.
    let deadline = match ending {
        Ending::Reported => TEARDOWN_DEADLINE,
        Ending::Kill => KILL_RETRY_EVERY,
    };
    let mut clean = false;
    for attempt in 0..KILL_ATTEMPTS {
        if ending == Ending::Kill || attempt > 0 {
            engine.remove(&name).await;
        }
        if let Ok(Ok(_)) = tokio::time::timeout(deadline, process.wait()).await {
            clean = true;
            break;
        }
        tracing::warn!(container = %name, attempt, "podman has not finished; removing by name");
    }
    if !clean {
        let _ = process.kill().await;
        engine.remove(&name).await;
    }
    engine.mark_gone(&name);
    drop(permit);
}
