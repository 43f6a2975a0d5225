//! Each instance's directory under [`super::BASE`]: `owner` (the server
//! process, and a file lock its live server holds for its whole life),
//! crun's state root `state/`, and one bundle per container under
//! `bundles/<name>/` (`config.json`, and `labels.json` for the sweeps).
//!
//! The lock, not the owner's pid, tells a sweep whether an instance is
//! abandoned: the kernel drops it when its server dies however it dies, and
//! a sweep tidies a directory only while holding it, so a server of the
//! same name starting meanwhile waits for the sweep, never loses its
//! directory to it.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::super::engine::Labels;
use super::super::owner::Owner;
use crate::naming::INSTANCE_LABEL;

/// An instance's directory, locked by this process while it lives.
pub struct InstanceDir {
    pub path: PathBuf,
    _lock: File,
}

impl InstanceDir {
    /// Creates (or takes over) the directory of `instance` under `base`:
    /// its owner file locked and written, then `state/` and `bundles/`.
    pub fn create(base: &Path, instance: &str) -> std::io::Result<InstanceDir> {
        use std::io::Write;
        let path = base.join(instance);
        for _ in 0..5 {
            std::fs::create_dir_all(&path)?;
            std::fs::set_permissions(base, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            let mut lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path.join("owner"))?;
            lock_within(&lock, &path)?;
            // A sweep may have removed the directory while this waited.
            if !same_file(&lock, &path.join("owner")) {
                continue;
            }
            lock.set_len(0)?;
            lock.write_all(Owner::current().to_line().as_bytes())?;
            std::fs::create_dir_all(path.join("state"))?;
            std::fs::create_dir_all(path.join("bundles"))?;
            return Ok(InstanceDir { path, _lock: lock });
        }
        Err(std::io::Error::other(format!(
            "{} kept being removed while it was being made",
            path.display()
        )))
    }
}

/// The lock of `file`, waited for up to 5 s (a sweep holds a dead
/// instance's briefly); an error naming the directory when a live server of
/// the same instance name holds it.
fn lock_within(file: &File, dir: &Path) -> std::io::Result<()> {
    for _ in 0..50 {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "{} is held by a live server of the same instance name",
        dir.display()
    )))
}

/// Removes an abandoned instance's directory, its lock held: renamed first
/// to a name no instance can have (a dot name), so a server of the same
/// name starting meanwhile makes a new one.
pub fn remove_abandoned(dir: &Path, _held: &File) {
    let gone = dir.with_file_name(format!(".gone-{:016x}", rand::random::<u64>()));
    if std::fs::rename(dir, &gone).is_ok() {
        let _ = std::fs::remove_dir_all(&gone);
    }
}

fn same_file(open: &File, path: &Path) -> bool {
    match (open.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The lock of an instance directory whose server is gone, held while the
/// caller tidies it; `None` while its server lives (or it has no owner file:
/// one being made).
pub fn claim_abandoned(dir: &Path) -> Option<File> {
    let file = File::options().write(true).open(dir.join("owner")).ok()?;
    file.try_lock().ok()?;
    same_file(&file, &dir.join("owner")).then_some(file)
}

/// Whether an instance directory holds no container.
pub fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("bundles")).map_or(true, |mut d| d.next().is_none())
}

/// Every instance directory under `base` (not the dot names of those
/// being removed).
pub fn instance_dirs(base: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(base)
        .map(|dirs| {
            dirs.flatten()
                .filter(|d| !d.file_name().to_string_lossy().starts_with('.'))
                .map(|d| d.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Every container in every instance's directory, with its labels (a
/// bundle whose labels cannot be read is its instance's, ownerless).
pub fn containers(base: &Path) -> Vec<(String, Labels)> {
    let mut found = Vec::new();
    for dir in instance_dirs(base) {
        let instance = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(bundles) = std::fs::read_dir(dir.join("bundles")) else {
            continue;
        };
        for bundle in bundles.flatten() {
            let name = bundle.file_name().to_string_lossy().into_owned();
            let labels = std::fs::read_to_string(bundle.path().join("labels.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<Labels>(&text).ok())
                .unwrap_or_else(|| Labels::from([(INSTANCE_LABEL.to_owned(), instance.clone())]));
            found.push((name, labels));
        }
    }
    found
}

/// `/whipcode/<instance>` in every hierarchy under `root` (and `/whipcode`
/// when it is left empty); a cgroup still holding a container stays.
pub fn remove_cgroup_parents(root: &Path, instance: &str) {
    let hierarchies = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for hierarchy in std::iter::once(root.to_owned()).chain(hierarchies) {
        let _ = std::fs::remove_dir(hierarchy.join("whipcode").join(instance));
        let _ = std::fs::remove_dir(hierarchy.join("whipcode"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_instance_is_never_claimed_and_a_dropped_one_is() {
        let base = tempfile::tempdir().unwrap();
        let live = InstanceDir::create(base.path(), "one").unwrap();
        assert!(claim_abandoned(&live.path).is_none(), "its server holds it");
        let path = live.path.clone();
        drop(live);
        assert!(claim_abandoned(&path).is_some(), "no server holds it");
        assert!(is_empty(&path));
        std::fs::create_dir(base.path().join("half-made")).unwrap();
        assert!(
            claim_abandoned(&base.path().join("half-made")).is_none(),
            "no owner file yet: left alone"
        );
    }

    #[test]
    fn a_second_live_server_of_one_instance_name_is_refused_not_hung() {
        let base = tempfile::tempdir().unwrap();
        let _live = InstanceDir::create(base.path(), "same").unwrap();
        let second = InstanceDir::create(base.path(), "same")
            .err()
            .expect("refused");
        assert!(second.to_string().contains("live server"), "{second}");
    }

    #[test]
    fn a_bundle_without_labels_is_its_instances() {
        let base = tempfile::tempdir().unwrap();
        let dir = InstanceDir::create(base.path(), "inst").unwrap();
        std::fs::create_dir(dir.path.join("bundles/whipcode-inst-1")).unwrap();
        let found = containers(base.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1[INSTANCE_LABEL], "inst");
    }
}
