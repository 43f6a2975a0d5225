//! What the sandbox counts about itself, as plain numbers: the HTTP layer's
//! metrics read them through [`super::Sandbox::stats`] (the sandbox knows no
//! metrics format). Counters only ever grow; the rest is read when asked.

use std::sync::atomic::{AtomicU64, Ordering};

/// Events counted as they happen, shared by the parts that see them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Runs that found a warm container.
    pub pool_hits: AtomicU64,
    /// Runs that had to start a container (no warm one of their kind).
    pub pool_misses: AtomicU64,
    /// Containers podman failed to create, attach to or start.
    pub create_failures: AtomicU64,
    /// Containers whose removal was given up (left to the periodic sweep).
    pub remove_failures: AtomicU64,
    /// Times podman's REST API service died and was started again.
    pub service_restarts: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The sandbox right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Container slots held by runs (from before create to after removal).
    pub in_flight: usize,
    /// Runs waiting for a slot.
    pub waiting: usize,
    /// The slot limit (`--max-concurrent`).
    pub slots: usize,
    /// Warm containers waiting, by image reference.
    pub warm: Vec<(String, usize)>,
    pub pool_hits: u64,
    pub pool_misses: u64,
    pub create_failures: u64,
    pub remove_failures: u64,
    pub service_restarts: u64,
}

impl SandboxStats {
    /// The counters' values, the rest left for the caller.
    pub fn from_counters(counters: &Counters) -> SandboxStats {
        SandboxStats {
            pool_hits: Counters::read(&counters.pool_hits),
            pool_misses: Counters::read(&counters.pool_misses),
            create_failures: Counters::read(&counters.create_failures),
            remove_failures: Counters::read(&counters.remove_failures),
            service_restarts: Counters::read(&counters.service_restarts),
            ..SandboxStats::default()
        }
    }
}
