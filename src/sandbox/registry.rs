//! The containers of this process: which are live (created and not yet
//! removed), removing one by name, and sweeping this instance's leftovers at
//! startup (after a crash or `kill -9`), periodically (a removal that
//! failed), and at shutdown. Only containers labelled with this instance are
//! touched, so several instances and parallel test runs can share a host.
//! Everything goes through podman's REST API service.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::podman::api::{PodmanApi, PodmanError};
use crate::naming::{INSTANCE_LABEL, PROJECT_LABEL};

/// Deadline of one listing or removal call.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long a removal keeps trying (podman's service may be restarting)
/// before it gives up and leaves the container to the periodic sweep. The
/// container's slot stays held meanwhile, so a container that may still run
/// keeps counting against the concurrency limit.
const REMOVE_PATIENCE: Duration = Duration::from_secs(90);
/// The longest pause between two removal attempts.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How often the sweep looks for containers this process no longer tracks.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    api: PodmanApi,
    instance: String,
    live: Mutex<HashSet<String>>,
}

impl Registry {
    pub fn new(api: PodmanApi, instance: String) -> Registry {
        Registry {
            shared: Arc::new(Shared {
                api,
                instance,
                live: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.shared.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records container `name`, about to be created: sweeps leave it alone.
    pub fn track(&self, name: &str) {
        self.live().insert(name.to_owned());
    }

    /// Kills and removes a container by name, retried for up to
    /// [`REMOVE_PATIENCE`]; then forgets it (one that could not be removed
    /// is left to the next sweep).
    pub async fn remove(&self, name: &str) {
        let give_up = tokio::time::Instant::now() + REMOVE_PATIENCE;
        let mut pause = Duration::from_millis(500);
        let mut gone = false;
        for attempt in 1u32.. {
            match self.shared.api.remove(name, CALL_DEADLINE).await {
                Ok(()) => {
                    gone = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(container = name, attempt, error = %e, "container removal failed");
                }
            }
            if tokio::time::Instant::now() + pause > give_up {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
        if !gone {
            tracing::error!(
                container = name,
                "container could not be removed; the periodic sweep will retry"
            );
        }
        self.live().remove(name);
    }

    /// Names of every container labelled with this instance.
    async fn instance_containers(&self) -> Result<Vec<String>, PodmanError> {
        let labels = [
            PROJECT_LABEL.to_owned(),
            format!("{INSTANCE_LABEL}={}", self.shared.instance),
        ];
        self.shared
            .api
            .containers_labelled(&labels, CALL_DEADLINE)
            .await
    }

    /// Removes every container of this instance that is not live; how many.
    pub async fn sweep(&self) -> Result<usize, PodmanError> {
        let names = self.instance_containers().await?;
        let stale: Vec<String> = {
            let live = self.live();
            names.into_iter().filter(|n| !live.contains(n)).collect()
        };
        for name in &stale {
            self.remove(name).await;
        }
        Ok(stale.len())
    }

    /// Removes every container of this instance, live or not (at shutdown).
    pub async fn remove_all(&self) {
        for name in self.instance_containers().await.unwrap_or_default() {
            self.remove(&name).await;
        }
    }

    /// Sweeps every [`SWEEP_EVERY`] until the task is aborted.
    pub fn sweep_periodically(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                match registry.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(removed = n, "swept leftover containers"),
                    Err(e) => tracing::warn!(error = %e, "container sweep failed"),
                }
            }
        })
    }
}
