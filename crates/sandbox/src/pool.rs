//! Warm containers: started ahead of time, per kind (image and limits),
//! each waiting for exactly one job, so a run does not wait for podman to
//! create its container. A container still serves one run only: taking it
//! removes it from the pool for good, and a replacement is started in the
//! background. The pool runs on top of any [`Launch`]; it owns its refill
//! tasks and its trimming task.
//!
//! Sizing follows demand. A kind gets one warm container when first used; a
//! run that finds none (a cold start) raises its target by one, up to the
//! pool's size; a target not raised for [`DECAY_AFTER`] shrinks by one; a
//! kind unused for [`IDLE_AFTER`] shrinks to zero. Warm containers hold slots
//! of their own (the pool's size), not the run slots, and refills start at
//! most [`REFILLS_AT_ONCE`] containers at a time, so they never crowd out runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::launch::{ContainerKind, Launch, Warm};

/// A kind unused this long has its warm containers removed.
pub const IDLE_AFTER: Duration = Duration::from_secs(300);
/// A kind whose target has not needed raising for this long loses one.
pub const DECAY_AFTER: Duration = Duration::from_secs(120);
/// How often idle kinds are trimmed and targets decay.
const TRIM_EVERY: Duration = Duration::from_secs(30);
/// Pause between two refill starts.
const REFILL_PAUSE: Duration = Duration::from_millis(50);
/// Containers started at once by refills (podman's create and start are
/// mostly waiting on the kernel and runc; two overlap well on two cores).
const REFILLS_AT_ONCE: usize = 2;

struct KindState<W> {
    warm: VecDeque<W>,
    /// Containers being started for this kind right now.
    starting: usize,
    target: usize,
    last_used: Instant,
    last_raised: Instant,
}

pub struct Pool<L: Launch> {
    launcher: Arc<L>,
    size: usize,
    slots: Arc<Semaphore>,
    kinds: Mutex<HashMap<ContainerKind, KindState<L::Started>>>,
    /// At most [`REFILLS_AT_ONCE`] containers are started at a time.
    refilling: Semaphore,
    closed: AtomicBool,
}

impl<L: Launch> Pool<L> {
    /// A pool of at most `size` warm containers (0: none), trimming itself
    /// every [`TRIM_EVERY`] until it is dropped.
    pub fn start(launcher: Arc<L>, size: usize) -> Arc<Pool<L>> {
        let pool = Arc::new(Pool {
            launcher,
            size,
            slots: Arc::new(Semaphore::new(size)),
            kinds: Mutex::new(HashMap::new()),
            refilling: Semaphore::new(REFILLS_AT_ONCE),
            closed: AtomicBool::new(false),
        });
        if size > 0 {
            tokio::spawn(trim_periodically(Arc::downgrade(&pool)));
        }
        pool
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ContainerKind, KindState<L::Started>>> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Stops refilling and removes every warm container (at shutdown).
    /// Waits for a refill in progress, so none starts after this returns.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _no_refill_running = self.refilling.acquire_many(REFILLS_AT_ONCE as u32).await;
        let drained: Vec<L::Started> = self
            .lock()
            .drain()
            .flat_map(|(_, state)| state.warm)
            .collect();
        for warm in drained {
            warm.discard();
        }
    }

    /// Warm containers waiting right now, over all kinds.
    pub fn warm(&self) -> usize {
        self.lock().values().map(|k| k.warm.len()).sum()
    }

    /// Warm containers waiting right now, by image.
    pub fn warm_by_image(&self) -> Vec<(String, usize)> {
        let mut by_image: HashMap<String, usize> = HashMap::new();
        for (kind, state) in self.lock().iter() {
            *by_image.entry(kind.image.clone()).or_default() += state.warm.len();
        }
        let mut list: Vec<_> = by_image.into_iter().collect();
        list.sort();
        list
    }

    /// A warm container of `kind`, if one is alive, now the caller's for
    /// good; records the demand and starts refilling in the background.
    pub fn take(self: &Arc<Self>, kind: &ContainerKind) -> Option<L::Started> {
        if self.size == 0 || self.is_closed() {
            return None;
        }
        let now = Instant::now();
        let mut dead = Vec::new();
        let taken = {
            let mut kinds = self.lock();
            let state = kinds.entry(kind.clone()).or_insert_with(|| KindState {
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
                tracing::info!(image = %kind.image, target = state.target, "pool grows");
            }
            taken
        };
        for gone in dead {
            gone.discard();
        }
        tracing::debug!(image = %kind.image, warm = taken.is_some(), "pool take");
        self.refill(kind.clone());
        taken
    }

    /// Starts containers of `kind` in the background until it has its target.
    fn refill(self: &Arc<Self>, kind: ContainerKind) {
        let pool = Arc::clone(self);
        tokio::spawn(async move {
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
                    let mut kinds = pool.lock();
                    match kinds.get_mut(&kind) {
                        Some(s) if s.warm.len() + s.starting < s.target => s.starting += 1,
                        _ => return,
                    }
                }
                let started = pool.launcher.launch(&kind, slot).await;
                let unwanted = {
                    let mut kinds = pool.lock();
                    match (kinds.get_mut(&kind), started) {
                        (Some(state), Ok(warm)) if !pool.is_closed() => {
                            state.starting -= 1;
                            state.warm.push_back(warm);
                            None
                        }
                        (state, Ok(warm)) => {
                            if let Some(state) = state {
                                state.starting -= 1;
                            }
                            Some(warm)
                        }
                        (state, Err(e)) => {
                            if let Some(state) = state {
                                state.starting -= 1;
                            }
                            tracing::warn!(image = %kind.image, error = %e, "pool refill failed");
                            return;
                        }
                    }
                };
                if let Some(warm) = unwanted {
                    warm.discard();
                    return;
                }
                // A breath between starts, so refills never crowd out runs.
                tokio::time::sleep(REFILL_PAUSE).await;
            }
        });
    }

    /// Kinds idle for [`IDLE_AFTER`] drop to zero, targets not raised for
    /// [`DECAY_AFTER`] shrink by one; the surplus is removed. How many.
    fn trim(&self, now: Instant) -> usize {
        let mut surplus = Vec::new();
        {
            let mut kinds = self.lock();
            for state in kinds.values_mut() {
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
            kinds.retain(|_, s| s.target > 0 || !s.warm.is_empty() || s.starting > 0);
        }
        let removed = surplus.len();
        for warm in surplus {
            warm.discard();
        }
        removed
    }
}

async fn trim_periodically<L: Launch>(pool: Weak<Pool<L>>) {
    loop {
        tokio::time::sleep(TRIM_EVERY).await;
        let Some(pool) = pool.upgrade() else { return };
        let removed = pool.trim(Instant::now());
        if removed > 0 {
            tracing::info!(removed, warm = pool.warm(), "pool trimmed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{BoxFuture, SandboxError};
    use crate::policy::Limits;
    use std::sync::atomic::AtomicU64;
    use tokio::sync::OwnedSemaphorePermit;

    /// A container that is only a number; its slot is held until discarded.
    struct Fake {
        id: u64,
        alive: Arc<AtomicBool>,
        discarded: Arc<Mutex<Vec<u64>>>,
        _slot: OwnedSemaphorePermit,
    }

    impl Warm for Fake {
        fn is_alive(&self) -> bool {
            self.alive.load(Ordering::SeqCst)
        }
        fn discard(self) {
            self.discarded.lock().unwrap().push(self.id);
        }
    }

    #[derive(Default)]
    struct FakeLauncher {
        launched: AtomicU64,
        discarded: Arc<Mutex<Vec<u64>>>,
        /// The aliveness flag of every container launched, by id.
        flags: Mutex<Vec<Arc<AtomicBool>>>,
    }

    impl Launch for FakeLauncher {
        type Started = Fake;
        fn launch(
            &self,
            _: &ContainerKind,
            slot: OwnedSemaphorePermit,
        ) -> BoxFuture<'_, Result<Fake, SandboxError>> {
            let id = self.launched.fetch_add(1, Ordering::SeqCst);
            let alive = Arc::new(AtomicBool::new(true));
            self.flags.lock().unwrap().push(Arc::clone(&alive));
            let fake = Fake {
                id,
                alive,
                discarded: Arc::clone(&self.discarded),
                _slot: slot,
            };
            Box::pin(async move { Ok(fake) })
        }
    }

    fn kind() -> ContainerKind {
        ContainerKind {
            image: "localhost/whipcode-toy:latest".into(),
            limits: Limits::default(),
        }
    }

    /// Waits (bounded) until the pool holds `n` warm containers.
    async fn until_warm<L: Launch>(pool: &Pool<L>, n: usize) {
        for _ in 0..200 {
            if pool.warm() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.warm(), n, "warm containers");
    }

    #[tokio::test]
    async fn a_miss_grows_the_target_by_one_up_to_the_size() {
        let pool = Pool::start(Arc::new(FakeLauncher::default()), 2);
        assert!(pool.take(&kind()).is_none(), "nothing warm at first");
        until_warm(&pool, 1).await;
        assert!(pool.take(&kind()).is_some());
        // Taken before the refill: a second miss raises the target to 2.
        assert!(pool.take(&kind()).is_none());
        until_warm(&pool, 2).await;
        assert!(pool.take(&kind()).is_some() && pool.take(&kind()).is_some());
        assert!(pool.take(&kind()).is_none());
        until_warm(&pool, 2).await;
        assert_eq!(pool.lock()[&kind()].target, 2, "never above the size");
    }

    #[tokio::test]
    async fn a_taken_container_is_never_given_out_again() {
        let launcher = Arc::new(FakeLauncher::default());
        let pool = Pool::start(Arc::clone(&launcher), 2);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            if let Some(fake) = pool.take(&kind()) {
                assert!(seen.insert(fake.id), "container {} given twice", fake.id);
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        assert!(seen.len() >= 10, "the pool served: {}", seen.len());
    }

    #[tokio::test]
    async fn a_dead_warm_container_is_discarded_not_given_out() {
        let launcher = Arc::new(FakeLauncher::default());
        let pool = Pool::start(Arc::clone(&launcher), 1);
        assert!(pool.take(&kind()).is_none());
        until_warm(&pool, 1).await;
        launcher.flags.lock().unwrap()[0].store(false, Ordering::SeqCst);
        assert!(pool.take(&kind()).is_none(), "a dead one is a miss");
        assert_eq!(*launcher.discarded.lock().unwrap(), vec![0]);
    }

    #[tokio::test]
    async fn targets_decay_and_an_idle_kind_goes_to_zero() {
        let launcher = Arc::new(FakeLauncher::default());
        let pool = Pool::start(Arc::clone(&launcher), 3);
        // Three misses in a row (nothing is warm yet): the target is 3.
        for _ in 0..3 {
            assert!(pool.take(&kind()).is_none());
        }
        until_warm(&pool, 3).await;
        let target = pool.lock()[&kind()].target;
        assert_eq!(target, 3);
        let now = Instant::now();
        assert_eq!(pool.trim(now + DECAY_AFTER), 1, "one surplus removed");
        assert_eq!(pool.lock()[&kind()].target, 2);
        let removed = pool.trim(now + IDLE_AFTER);
        assert_eq!(removed, 2, "idle: every warm container removed");
        assert_eq!(pool.warm(), 0);
        assert!(pool.lock().is_empty(), "the idle kind is forgotten");
        assert_eq!(launcher.discarded.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_closed_pool_discards_its_containers_and_starts_no_more() {
        let launcher = Arc::new(FakeLauncher::default());
        let pool = Pool::start(Arc::clone(&launcher), 2);
        assert!(pool.take(&kind()).is_none());
        until_warm(&pool, 1).await;
        pool.close().await;
        assert_eq!(pool.warm(), 0);
        assert!(pool.take(&kind()).is_none());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(launcher.launched.load(Ordering::SeqCst), 1);
        assert_eq!(*launcher.discarded.lock().unwrap(), vec![0]);
    }

    #[tokio::test]
    async fn a_pool_of_size_zero_never_launches() {
        let launcher = Arc::new(FakeLauncher::default());
        let pool = Pool::start(Arc::clone(&launcher), 0);
        assert!(pool.take(&kind()).is_none());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(launcher.launched.load(Ordering::SeqCst), 0);
    }
}
