//! This instance's part in the shared store, as its API and its workers
//! both use it: the connection (once made), where the store is, what this
//! instance counts, and the results waiting for Redis.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::OnceCell;

use super::connection::Shared;
use super::unwritten::Unwritten;
use crate::api::judge0::backend::Refusal;
use crate::api::judge0::config::Async;
use crate::api::judge0::flavor::Flavor;
use crate::api::judge0::statistics::Statistics;
use crate::api::judge0::verdict::Status;

/// Where the shared store is and how it is used.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The Redis URL (`--store`).
    pub url: String,
    /// `--store-claim-after`.
    pub claim_after: std::time::Duration,
    /// This process's name among the consumers of the queue: unique per
    /// process, so a restarted instance never takes its predecessor's
    /// entries as its own (they are claimed, as any quiet instance's).
    pub consumer: String,
}

/// This instance in the shared store.
pub struct Instance {
    pub(super) connection: OnceCell<Shared>,
    pub settings: StoreSettings,
    /// What `GET /config_info` says (and preparing a job reads).
    pub config: Async,
    /// Submissions this instance's workers are running.
    pub running: AtomicUsize,
    /// Their stream entries, let go when a shutdown stops them.
    held: Mutex<HashSet<String>>,
    stopping: AtomicBool,
    /// The submissions this instance finished (`GET /statistics` is per
    /// instance with this store).
    pub statistics: Statistics,
    pub unwritten: Unwritten,
}

impl Instance {
    pub fn new(settings: StoreSettings, config: Async) -> Instance {
        Instance {
            connection: OnceCell::new(),
            settings,
            config,
            running: AtomicUsize::default(),
            held: Mutex::default(),
            stopping: AtomicBool::default(),
            statistics: Statistics::default(),
            unwritten: Unwritten::default(),
        }
    }

    /// The connection, once made; refused while it is not.
    pub fn connection(&self) -> Result<&Shared, Refusal> {
        self.connection.get().ok_or_else(|| {
            Refusal::Unavailable(
                "the shared submission store (Redis) is not connected yet: try again shortly, \
                 or use wait=true"
                    .into(),
            )
        })
    }

    /// Whether its workers stop taking submissions (a shutdown).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Counts a finished submission for `GET /statistics`.
    pub fn count(&self, flavor: Flavor, language_id: u32, name: &str, status: Status) {
        let now = time::OffsetDateTime::now_utc();
        self.statistics
            .record(flavor, language_id, name, status, now);
    }
}

impl Instance {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream entries its workers hold now.
    pub fn held_entries(&self) -> Vec<String> {
        self.held().iter().cloned().collect()
    }
}

/// A run of entry `id` by one of the instance's workers, counted in
/// [`Instance::running`] and held while it lives.
pub struct Running<'a> {
    instance: &'a Instance,
    id: String,
}

impl<'a> Running<'a> {
    pub fn start(instance: &'a Instance, id: &str) -> Running<'a> {
        instance.running.fetch_add(1, Ordering::SeqCst);
        instance.held().insert(id.to_owned());
        Running {
            instance,
            id: id.to_owned(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.instance.held().remove(&self.id);
        self.instance.running.fetch_sub(1, Ordering::SeqCst);
    }
}
