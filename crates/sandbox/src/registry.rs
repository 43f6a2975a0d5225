//! The containers of this process: which are live (created and not yet
//! removed), removing one by name, and sweeping leftovers at startup,
//! periodically and at shutdown. Every container names its owner (the
//! server process: pid, start time, boot id); a sweep removes this
//! instance's containers it no longer tracks, and any instance's whose
//! owner is gone (a server killed with `kill -9`, whatever its name or port)
//! — never a container whose owner still runs, and a container with no
//! owner label only by its own instance. Several instances and parallel test
//! runs share a host this way. Listing and removal are the engine's; the
//! sweeps also look at the other engine's leftovers (the server may have run
//! on it before a restart).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::Engine;
use super::error::EngineError;
use super::idrange::IdRanges;
use super::owner::Owner;
use super::stats::Counters;
use crate::naming::INSTANCE_LABEL;

/// How long a removal keeps trying (podman's service may be restarting)
/// before it gives up and leaves the container to the periodic sweep. The
/// container's slot stays held meanwhile, so a container that may still run
/// keeps counting against the concurrency limit.
const REMOVE_PATIENCE: Duration = Duration::from_secs(90);
/// The longest pause between two removal attempts.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How often the sweep looks for containers this process no longer tracks.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What a sweep does with one container of the project.
fn is_stale(
    labels: &HashMap<String, String>,
    instance: &str,
    live: &HashMap<String, Option<u32>>,
    name: &str,
    me: &Owner,
) -> bool {
    let owner = Owner::from_labels(labels);
    if labels.get(INSTANCE_LABEL).map(String::as_str) == Some(instance) {
        // Ours: stale unless running a job, or owned by another live process
        // that happens to have the same instance name.
        return !live.contains_key(name) && owner.is_none_or(|o| o == *me || !o.is_alive());
    }
    owner.is_some_and(|o| !o.is_alive())
}

#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Arc<dyn Engine>,
    /// Engines whose leftovers the sweeps remove too; nothing is started on them.
    others: Vec<Arc<dyn Engine>>,
    instance: String,
    owner: Owner,
    /// Live containers by name, with the host id range each holds.
    live: Mutex<HashMap<String, Option<u32>>>,
    /// Where ranges come from, when runs get a user namespace of their own.
    ranges: Option<IdRanges>,
    counters: Arc<Counters>,
}

impl Registry {
    /// With `ranges`, every container gets a host id range of its own.
    /// Removal failures are counted in `counters`.
    pub fn new(
        engine: Arc<dyn Engine>,
        others: Vec<Arc<dyn Engine>>,
        instance: String,
        ranges: Option<IdRanges>,
        counters: Arc<Counters>,
    ) -> Registry {
        Registry {
            shared: Arc::new(Shared {
                engine,
                others,
                instance,
                owner: Owner::current(),
                live: Mutex::new(HashMap::new()),
                ranges,
                counters,
            }),
        }
    }

    /// The sandbox's counters, for the parts that count through the registry.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// A host id range for a new container, if runs get their own.
    pub async fn take_range(&self) -> Result<Option<u32>, super::job::SandboxError> {
        match &self.shared.ranges {
            Some(ranges) => ranges.take().await.map(Some),
            None => Ok(None),
        }
    }

    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// The labels naming this process as the owner of a container.
    pub fn owner_labels(&self) -> Vec<(&'static str, String)> {
        self.shared.owner.labels()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<u32>>> {
        self.shared.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records container `name`, about to be created with host id range
    /// `range`: sweeps leave it alone, and the range is given back once the
    /// container is removed.
    pub fn track(&self, name: &str, range: Option<u32>) {
        self.live().insert(name.to_owned(), range);
    }

    /// Kills and removes a container by name, retried for up to
    /// [`REMOVE_PATIENCE`]; then forgets it (one that could not be removed
    /// is left to the next sweep).
    pub async fn remove(&self, name: &str) {
        let give_up = tokio::time::Instant::now() + REMOVE_PATIENCE;
        let mut pause = Duration::from_millis(500);
        let mut gone = false;
        for attempt in 1u32.. {
            match self.shared.engine.remove(name).await {
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
        let range = self.live().remove(name).flatten();
        if !gone {
            Counters::bump(&self.shared.counters.remove_failures);
            // Its range stays reserved (by this process) while it may live.
            tracing::error!(
                container = name,
                "container could not be removed; the periodic sweep will retry"
            );
            return;
        }
        if let (Some(base), Some(ranges)) = (range, &self.shared.ranges) {
            ranges.release(base);
        }
    }

    /// Removes the stale containers of the project (see the module's
    /// description); how many.
    pub async fn sweep(&self) -> Result<usize, EngineError> {
        let mut removed = self.sweep_one(&self.shared.engine, true).await?;
        if let Some(ranges) = &self.shared.ranges {
            match ranges.prune_dead().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "gave back the id ranges of dead servers"),
                Err(e) => tracing::warn!(error = %e, "id range pruning failed"),
            }
        }
        for other in &self.shared.others {
            match self.sweep_one(other, false).await {
                Ok(n) => removed += n,
                Err(e) => {
                    tracing::debug!(engine = other.name(), error = %e, "leftover sweep failed")
                }
            }
        }
        Ok(removed)
    }

    /// The stale containers `engine` lists, removed: through [`Registry::remove`]
    /// on the engine runs start on (`active`), once on another.
    async fn sweep_one(
        &self,
        engine: &Arc<dyn Engine>,
        active: bool,
    ) -> Result<usize, EngineError> {
        let all = engine.list().await?;
        let stale: Vec<String> = {
            let live = self.live();
            all.into_iter()
                .filter(|(name, labels)| {
                    is_stale(
                        labels,
                        &self.shared.instance,
                        &live,
                        name,
                        &self.shared.owner,
                    )
                })
                .map(|(name, _)| name)
                .collect()
        };
        for name in &stale {
            if active {
                self.remove(name).await;
            } else if let Err(e) = engine.remove(name).await {
                tracing::warn!(engine = engine.name(), container = %name, error = %e, "leftover removal failed");
            }
        }
        engine.tidy().await;
        Ok(stale.len())
    }

    /// Removes every container of this instance, live or not (at shutdown).
    pub async fn remove_all(&self) {
        let all = self.shared.engine.list().await.unwrap_or_default();
        let mine = |labels: &HashMap<String, String>| {
            labels.get(INSTANCE_LABEL).map(String::as_str) == Some(self.instance())
        };
        for (name, _) in all.iter().filter(|(_, labels)| mine(labels)) {
            self.remove(name).await;
        }
        self.shared.engine.tidy().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(instance: &str, owner: Option<&Owner>) -> HashMap<String, String> {
        let mut l = HashMap::from([(INSTANCE_LABEL.to_owned(), instance.to_owned())]);
        for (k, v) in owner.map(Owner::labels).unwrap_or_default() {
            l.insert(k.to_owned(), v);
        }
        l
    }

    #[test]
    fn a_sweep_takes_its_own_untracked_and_any_dead_owners_containers_only() {
        let me = Owner::current();
        let dead = Owner::from_line("1 1 a-boot-long-gone").unwrap();
        let live = HashMap::from([("running".to_owned(), None)]);
        let stale = |l: HashMap<String, String>, name: &str| is_stale(&l, "mine", &live, name, &me);
        assert!(stale(labels("mine", Some(&me)), "left"), "own, untracked");
        assert!(
            !stale(labels("mine", Some(&me)), "running"),
            "own, running a job"
        );
        assert!(stale(labels("mine", None), "left"), "own, no owner label");
        assert!(
            stale(labels("other", Some(&dead)), "x"),
            "another's, owner gone"
        );
        assert!(
            !stale(labels("other", Some(&me)), "x"),
            "another's, owner alive"
        );
        assert!(
            !stale(labels("other", None), "x"),
            "another's, no owner label"
        );
    }
}
