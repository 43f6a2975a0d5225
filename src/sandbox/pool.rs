//! Warm containers: started ahead of time, per language (image and limits),
//! each waiting for exactly one job, so a run does not wait for podman to
//! create its container. A container still serves one run only: taking it
//! removes it from the pool, and a replacement is started in the background.
//!
//! Sizing follows demand. A key gets one warm container when first used; a
//! run that finds none (a cold start) raises its target by one, up to the
//! pool's size; a key unused for [`IDLE_AFTER`] shrinks to zero. Warm
//! containers hold slots of their own (the pool's size), not the run slots,
//! and refills start one container at a time, so they never crowd out runs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::podman::{Inner, Spawned};
use super::Limits;

/// A key unused this long has its warm containers removed.
pub const IDLE_AFTER: Duration = Duration::from_secs(300);
/// How often idle keys are trimmed and targets decay.
const TRIM_EVERY: Duration = Duration::from_secs(30);
/// Pause between two refill starts.
const REFILL_PAUSE: Duration = Duration::from_millis(50);
/// Containers started at once by refills (podman's create and start are
/// mostly waiting on the kernel and runc; two overlap well on two cores).
const REFILLS_AT_ONCE: usize = 2;
/// A key whose target has not needed raising for this long loses one.
const DECAY_AFTER: Duration = Duration::from_secs(120);

/// What makes two containers interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub image: String,
    pub limits: Limits,
}

struct KeyState {
    warm: VecDeque<Spawned>,
    /// Containers being started for this key right now.
    starting: usize,
    target: usize,
    last_used: Instant,
    last_raised: Instant,
}

pub struct Pool {
    size: usize,
    slots: Arc<Semaphore>,
    keys: Mutex<HashMap<PoolKey, KeyState>>,
    /// At most [`REFILLS_AT_ONCE`] containers are started at a time.
    refilling: Semaphore,
    closed: std::sync::atomic::AtomicBool,
}

impl Pool {
    pub fn new(size: usize) -> Pool {
        Pool {
            size,
            slots: Arc::new(Semaphore::new(size)),
            keys: Mutex::new(HashMap::new()),
            refilling: Semaphore::new(REFILLS_AT_ONCE),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops refilling and removes every warm container (at shutdown).
    /// Waits for a refill in progress, so none starts after this returns.
    pub async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let _no_refill_running = self.refilling.acquire_many(REFILLS_AT_ONCE as u32).await;
        let drained: Vec<Spawned> = self
            .lock()
            .drain()
            .flat_map(|(_, state)| state.warm)
            .collect();
        for spawned in drained {
            spawned.discard();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, KeyState>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Warm containers waiting right now, over all keys.
    pub fn warm(&self) -> usize {
        self.lock().values().map(|k| k.warm.len()).sum()
    }

    /// A warm container for `key`, if one is alive; records the demand.
    pub(super) fn take(&self, key: &PoolKey) -> Option<Spawned> {
        if self.size == 0 || self.is_closed() {
            return None;
        }
        let now = Instant::now();
        let mut dead = Vec::new();
        let taken = {
            let mut keys = self.lock();
            let state = keys.entry(key.clone()).or_insert_with(|| KeyState {
                warm: VecDeque::new(),
                starting: 0,
                target: 0,
                last_used: now,
                last_raised: now,
            });
            state.last_used = now;
            let mut taken = None;
            while let Some(candidate) = state.warm.pop_front() {
                if candidate.is_alive() {
                    taken = Some(candidate);
                    break;
                }
                dead.push(candidate);
            }
            if taken.is_none() && state.target < self.size {
                state.target += 1;
                state.last_raised = now;
                tracing::info!(image = %key.image, target = state.target, "pool grows");
            }
            taken
        };
        for gone in dead {
            gone.discard();
        }
        tracing::debug!(image = %key.image, warm = taken.is_some(), "pool take");
        taken
    }

    /// Starts containers for `key` in the background until it has its target.
    pub(super) fn refill(inner: &Arc<Inner>, key: PoolKey) {
        if inner.pool().size == 0 {
            return;
        }
        let inner = Arc::clone(inner);
        tokio::spawn(async move {
            let pool = inner.pool();
            let Ok(_refill) = pool.refilling.acquire().await else {
                return;
            };
            loop {
                if pool.is_closed() {
                    return;
                }
                let Ok(slot) = Arc::clone(&pool.slots).try_acquire_owned() else {
                    return;
                };
                {
                    let mut keys = pool.lock();
                    match keys.get_mut(&key) {
                        Some(s) if s.warm.len() + s.starting < s.target => s.starting += 1,
                        _ => return,
                    }
                }
                let started = inner.spawn(&key, slot).await;
                let unwanted = {
                    let mut keys = pool.lock();
                    match (keys.get_mut(&key), started) {
                        (Some(state), Ok(spawned)) => {
                            state.starting -= 1;
                            state.warm.push_back(spawned);
                            None
                        }
                        (None, Ok(spawned)) => Some(spawned),
                        (state, Err(e)) => {
                            if let Some(state) = state {
                                state.starting -= 1;
                            }
                            tracing::warn!(image = %key.image, error = %e, "pool refill failed");
                            return;
                        }
                    }
                };
                if let Some(spawned) = unwanted {
                    spawned.discard();
                    return;
                }
                // A breath between starts, so refills never crowd out runs.
                tokio::time::sleep(REFILL_PAUSE).await;
            }
        });
    }

    /// Every [`TRIM_EVERY`]: keys idle for [`IDLE_AFTER`] drop to zero, and
    /// targets not raised for a while shrink by one.
    pub(super) fn start_trimming(inner: Weak<Inner>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(TRIM_EVERY).await;
                let Some(inner) = inner.upgrade() else { return };
                let removed = inner.pool().trim(Instant::now());
                if removed > 0 {
                    tracing::info!(removed, warm = inner.pool().warm(), "pool trimmed");
                }
            }
        });
    }

    fn trim(&self, now: Instant) -> usize {
        let mut surplus = Vec::new();
        {
            let mut keys = self.lock();
            for state in keys.values_mut() {
                if now.duration_since(state.last_used) >= IDLE_AFTER {
                    state.target = 0;
                } else if state.target > 1 && now.duration_since(state.last_raised) >= DECAY_AFTER {
                    state.target -= 1;
                    state.last_raised = now;
                }
                while state.warm.len() > state.target {
                    surplus.extend(state.warm.pop_back());
                }
            }
            keys.retain(|_, s| s.target > 0 || !s.warm.is_empty());
        }
        let removed = surplus.len();
        for spawned in surplus {
            spawned.discard();
        }
        removed
    }
}
