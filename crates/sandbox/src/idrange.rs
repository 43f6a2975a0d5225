//! Host id ranges for runs with a user namespace of their own: no two
//! containers alive at the same time on this host, of any whipcode instance,
//! run as the same host uid or gid.
//!
//! Range `i` is the host ids `BASE + i × 65536` onwards. A range is taken
//! under one host-wide lock (a file lock in [`DIR`]) by writing a
//! reservation file naming its owner process; it is given back when its
//! container has been removed. A reservation whose owner is gone (a server
//! killed with `kill -9`) is reclaimed only once no container carrying the
//! range's label exists, so a dead server's containers that outlive it
//! never share their range with a new run.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::engine::Engine;
use super::error::EngineError;
use super::job::SandboxError;
use super::owner::Owner;
use super::policy::ID_RANGE_SIZE;
use crate::naming::ID_RANGE_LABEL;

/// The first host id of range 0: far above the ids of ordinary users and
/// below the `containers` ranges of /etc/subuid that `--userns auto` uses.
pub const BASE: u32 = 1_000_000_000;
/// Ranges there are (ids up to 1 268 435 455): live containers host-wide.
pub const COUNT: u32 = 4096;
/// Host-wide: every whipcode on the host takes its ranges here.
pub const DIR: &str = "/run/whipcode/idranges";

pub struct IdRanges {
    dir: PathBuf,
    /// Every engine whose containers may carry a range.
    engines: Vec<Arc<dyn Engine>>,
    /// Where crun containers of any instance are (read whatever engine this
    /// server runs: a killed crun server's containers may still run).
    crun_dirs: Option<PathBuf>,
    owner: Owner,
}

impl IdRanges {
    pub fn new(
        dir: &Path,
        engines: Vec<Arc<dyn Engine>>,
        owner: Owner,
    ) -> std::io::Result<IdRanges> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Ok(IdRanges {
            dir: dir.to_owned(),
            engines,
            crun_dirs: None,
            owner,
        })
    }

    /// Also counts the crun containers under `base` as carrying ranges.
    pub fn with_crun_dirs(mut self, base: &Path) -> IdRanges {
        self.crun_dirs = Some(base.to_owned());
        self
    }

    /// Takes a free range; its first host id. When none is free, a dead
    /// owner's range no container carries is taken: the containers are
    /// listed without the lock (no request waits on another's listing),
    /// after the dead reservations were noted, and only a reservation still
    /// as noted is reclaimed (an owner alive when noted may have started a
    /// container since, then died).
    pub async fn take(&self) -> Result<u32, SandboxError> {
        let dead = match self.on_store(Store::take_free).await? {
            Ok(index) => return Ok(BASE + index * ID_RANGE_SIZE),
            Err(dead) => dead,
        };
        let in_use = self.in_use().await?;
        self.on_store(move |store| store.reclaim(&in_use, &dead))
            .await?
            .map(|index| BASE + index * ID_RANGE_SIZE)
            .ok_or(SandboxError::Busy {
                limit: COUNT as usize,
            })
    }

    /// `work` on the reservation files, on a blocking thread.
    async fn on_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, SandboxError> {
        let store = self.store();
        let done = tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(EngineError::from)?;
        done.map_err(|e| EngineError::io(format!("id ranges in {}", self.dir.display()))(e).into())
    }

    /// Removes the reservations of owners that are gone whose range no
    /// container carries any more (a killed server's): how many. Run by the
    /// sweeps, so `take` reads few files.
    pub async fn prune_dead(&self) -> Result<usize, SandboxError> {
        let dead = self.on_store(Store::dead).await?;
        if dead.is_empty() {
            return Ok(0);
        }
        let in_use = self.in_use().await?;
        self.on_store(move |store| store.prune(&in_use, &dead))
            .await
    }

    /// Gives a range back (its container has been removed).
    pub fn release(&self, base: u32) {
        if let Some(index) = index_of(base) {
            let _ = std::fs::remove_file(self.store().path(index));
        }
    }

    fn store(&self) -> Store {
        Store {
            dir: self.dir.clone(),
            owner: self.owner.clone(),
        }
    }

    /// The ranges some container of any engine carries.
    async fn in_use(&self) -> Result<HashSet<u32>, SandboxError> {
        let mut listed = Vec::new();
        for engine in &self.engines {
            listed.extend(engine.list().await?);
        }
        if let Some(base) = self.crun_dirs.clone() {
            let crun = tokio::task::spawn_blocking(move || super::crun::dirs::containers(&base));
            listed.extend(crun.await.map_err(EngineError::from)?);
        }
        Ok(listed
            .iter()
            .filter_map(|(_, labels)| labels.get(ID_RANGE_LABEL)?.parse().ok())
            .filter_map(index_of)
            .collect())
    }
}

/// The reservation files, read and written on a blocking thread under the
/// host-wide lock (held only for that: never across an await).
struct Store {
    dir: PathBuf,
    owner: Owner,
}

impl Store {
    fn path(&self, index: u32) -> PathBuf {
        self.dir.join(index.to_string())
    }

    /// The host-wide lock, held while the returned file is open.
    fn lock(&self) -> std::io::Result<std::fs::File> {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        file.lock()?;
        Ok(file)
    }

    /// Reserves a free range for this owner (its index), or notes the
    /// reservations of owners that are gone.
    fn take_free(&self) -> std::io::Result<Result<u32, Dead>> {
        let _lock = self.lock()?;
        let (taken, dead) = self.reservations()?;
        match (0..COUNT).find(|i| !taken.contains(i) && !dead.contains_key(i)) {
            Some(free) => self.reserve(free).map(Ok),
            None => Ok(Err(dead)),
        }
    }

    /// Reserves a range freed meanwhile, else a dead owner's that no
    /// container carries and whose reservation is still as `noted`.
    fn reclaim(&self, in_use: &HashSet<u32>, noted: &Dead) -> std::io::Result<Option<u32>> {
        let _lock = self.lock()?;
        let (taken, dead) = self.reservations()?;
        let free = (0..COUNT).find(|i| !taken.contains(i) && !dead.contains_key(i));
        let reclaimable = || still_dead(&dead, noted).find(|i| !in_use.contains(i));
        match free.or_else(reclaimable) {
            Some(index) => self.reserve(index).map(Some),
            None => Ok(None),
        }
    }

    fn reserve(&self, index: u32) -> std::io::Result<u32> {
        std::fs::write(self.path(index), self.owner.to_line())?;
        Ok(index)
    }

    /// The reservations of owners that are gone.
    fn dead(&self) -> std::io::Result<Dead> {
        let _lock = self.lock()?;
        Ok(self.reservations()?.1)
    }

    /// Removes the dead owners' reservations still as `noted` whose range
    /// no container carries; how many.
    fn prune(&self, in_use: &HashSet<u32>, noted: &Dead) -> std::io::Result<usize> {
        let _lock = self.lock()?;
        let (_, dead) = self.reservations()?;
        let gone = still_dead(&dead, noted).filter(|i| !in_use.contains(i));
        Ok(gone
            .filter(|index| std::fs::remove_file(self.path(*index)).is_ok())
            .count())
    }

    /// Ranges reserved by live owners, and by owners that are gone (with
    /// what their reservation says).
    fn reservations(&self) -> std::io::Result<(HashSet<u32>, Dead)> {
        let mut live = HashSet::new();
        let mut dead = Dead::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(index) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let line = std::fs::read_to_string(entry.path()).unwrap_or_default();
            match Owner::from_line(&line) {
                Some(owner) if owner.is_alive() => {
                    live.insert(index);
                }
                _ => {
                    dead.insert(index, line);
                }
            }
        }
        Ok((live, dead))
    }
}

/// Reservations of owners that are gone: range index → the reservation's
/// line, in index order.
type Dead = BTreeMap<u32, String>;

/// The ranges of `dead` whose reservation is still as `noted` said.
fn still_dead<'a>(dead: &'a Dead, noted: &'a Dead) -> impl Iterator<Item = u32> + 'a {
    dead.iter()
        .filter(|(index, line)| noted.get(index) == Some(line))
        .map(|(index, _)| *index)
}

fn index_of(base: u32) -> Option<u32> {
    let offset = base.checked_sub(BASE)?;
    (offset % ID_RANGE_SIZE == 0 && offset / ID_RANGE_SIZE < COUNT)
        .then_some(offset / ID_RANGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podman::{api::PodmanApi, engine::PodmanEngine};

    /// An engine that lists the containers given (range labels only).
    struct Listing(Vec<u32>);

    impl Engine for Listing {
        fn name(&self) -> &'static str {
            "listing"
        }
        fn start<'a>(
            &'a self,
            _: &'a crate::policy::Plan<'a>,
            _: crate::engine::Budget,
        ) -> crate::job::BoxFuture<'a, Result<crate::engine::Launched, SandboxError>> {
            Box::pin(async { Err(EngineError::failed("starts nothing").into()) })
        }
        fn remove<'a>(&'a self, _: &'a str) -> crate::job::BoxFuture<'a, Result<(), EngineError>> {
            Box::pin(async { Ok(()) })
        }
        fn list(
            &self,
        ) -> crate::job::BoxFuture<'_, Result<Vec<(String, crate::engine::Labels)>, EngineError>>
        {
            let listed = self
                .0
                .iter()
                .map(|base| {
                    let labels = [(ID_RANGE_LABEL.to_owned(), base.to_string())].into();
                    (format!("c{base}"), labels)
                })
                .collect();
            Box::pin(async move { Ok(listed) })
        }
    }

    #[tokio::test]
    async fn a_dead_owners_reservation_is_pruned_once_no_container_carries_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let carried = BASE + 2 * ID_RANGE_SIZE;
        let engine: Arc<dyn Engine> = Arc::new(Listing(vec![carried]));
        let ranges =
            IdRanges::new(&dir.path().join("ranges"), vec![engine], Owner::current()).unwrap();
        for index in [1, 2] {
            std::fs::write(
                dir.path().join(format!("ranges/{index}")),
                "1 1 another-boot\n",
            )
            .unwrap();
        }
        let live = ranges.take().await.unwrap();
        assert_eq!(live, BASE, "range 0 was free");
        assert_eq!(ranges.prune_dead().await.unwrap(), 1, "range 1 only");
        assert!(!dir.path().join("ranges/1").exists());
        assert!(
            dir.path().join("ranges/2").exists(),
            "a container still carries range 2"
        );
        assert!(
            dir.path().join("ranges/0").exists(),
            "a live owner's range stays"
        );
    }

    /// An engine whose service is not there: listing fails.
    fn no_engine() -> Arc<dyn Engine> {
        Arc::new(PodmanEngine::new(PodmanApi::new(
            "/nonexistent/podman.sock".into(),
        )))
    }

    #[tokio::test]
    async fn live_reservations_are_never_handed_out_twice_and_come_back_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let ranges = IdRanges::new(
            &dir.path().join("ranges"),
            vec![no_engine()],
            Owner::current(),
        )
        .unwrap();
        let a = ranges.take().await.unwrap();
        let b = ranges.take().await.unwrap();
        assert_eq!((a, b), (BASE, BASE + ID_RANGE_SIZE));
        ranges.release(a);
        assert_eq!(
            ranges.take().await.unwrap(),
            a,
            "a released range is free again"
        );
        assert_eq!(index_of(BASE + 5 * ID_RANGE_SIZE), Some(5));
        assert_eq!(index_of(BASE + 1), None);
        assert!(BASE as u64 + COUNT as u64 * ID_RANGE_SIZE as u64 <= 2_147_483_647);
    }

    #[test]
    fn a_range_whose_owner_died_after_it_was_noted_is_not_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store {
            dir: dir.path().to_owned(),
            owner: Owner::current(),
        };
        let dead_line = "1 1 another-boot\n";
        std::fs::write(dir.path().join("0"), dead_line).unwrap();
        std::fs::write(dir.path().join("1"), Owner::current().to_line()).unwrap();
        let noted = store.dead().unwrap();
        assert_eq!(noted.keys().copied().collect::<Vec<_>>(), [0]);
        // Range 1's owner dies after the note (it may have started a
        // container the listing did not see); range 0 is still as noted.
        std::fs::write(dir.path().join("1"), "2 2 another-boot\n").unwrap();
        let everything_free = HashSet::new();
        assert_eq!(store.prune(&everything_free, &noted).unwrap(), 1);
        assert!(!dir.path().join("0").exists(), "noted dead: pruned");
        assert!(dir.path().join("1").exists(), "died since the note: kept");
        std::fs::write(dir.path().join("0"), dead_line).unwrap();
        let noted_again = store.dead().unwrap();
        std::fs::write(dir.path().join("0"), "3 3 another-boot\n").unwrap();
        assert_eq!(
            store.reclaim(&everything_free, &noted_again).unwrap(),
            Some(2),
            "a free range first"
        );
        for index in 3..COUNT {
            std::fs::write(
                dir.path().join(index.to_string()),
                Owner::current().to_line(),
            )
            .unwrap();
        }
        assert_eq!(
            store.reclaim(&everything_free, &noted_again).unwrap(),
            Some(1),
            "range 1 was noted dead this time; range 0 changed since"
        );
    }

    #[tokio::test]
    async fn a_dead_owners_range_is_skipped_while_free_ones_remain() {
        let dir = tempfile::tempdir().unwrap();
        let ranges = IdRanges::new(
            &dir.path().join("ranges"),
            vec![no_engine()],
            Owner::current(),
        )
        .unwrap();
        std::fs::write(dir.path().join("ranges/0"), "1 1 another-boot\n").unwrap();
        assert_eq!(
            ranges.take().await.unwrap(),
            BASE + ID_RANGE_SIZE,
            "range 0 may still be in use"
        );
    }
}
