//! Whether this host can run containers with crun, and if not, why: the
//! reason is logged when the server falls back to podman.

use std::path::{Path, PathBuf};

use crate::cgroup::Layout;
use crate::policy::UserNamespace;

/// Where the host's cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Why the crun engine cannot run on this host (the server then falls back
/// to podman and logs this).
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("--userns auto takes its id ranges from podman, which the crun engine does not use")]
    UsernsAuto,
    #[error("crun is not installed ({} not found)", .0.display())]
    NotInstalled(PathBuf),
    #[error(
        "crun refuses this host's hybrid cgroup layout: the cgroup2 hierarchy at \
         {CGROUP_ROOT}/unified holds {0} (bind it to a v1 hierarchy: \
         `./task setup`, or deploy/cgroup-setup as root)"
    )]
    HybridCgroups(String),
    #[error("no memory cgroup controller under {CGROUP_ROOT}")]
    NoMemoryController,
    #[error(transparent)]
    InstanceName(#[from] super::InvalidInstance),
    #[error("cannot prepare {}: {source}", .path.display())]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// crun's binary and the host's cgroup layout, when crun can run here.
pub fn check(crun: &Path, userns: UserNamespace) -> Result<(PathBuf, Layout), Unusable> {
    if userns == UserNamespace::Auto {
        return Err(Unusable::UsernsAuto);
    }
    let binary = find(crun).ok_or_else(|| Unusable::NotInstalled(crun.to_owned()))?;
    let root = Path::new(CGROUP_ROOT);
    if let Some(controllers) = hybrid_controllers(root) {
        return Err(Unusable::HybridCgroups(controllers));
    }
    let layout = Layout::probe(root).ok_or(Unusable::NoMemoryController)?;
    Ok((binary, layout))
}

/// With cgroup v1, the controllers the cgroup2 mount beside it holds (crun
/// 1.8 refuses such a host); `None` when it holds none or is not there.
pub fn hybrid_controllers(root: &Path) -> Option<String> {
    if !root.join("memory").is_dir() {
        return None;
    }
    let held = std::fs::read_to_string(root.join("unified/cgroup.controllers")).ok()?;
    let held = held.trim();
    (!held.is_empty()).then(|| held.to_owned())
}

/// `crun` as given, or found on `PATH` when it is a bare name.
fn find(crun: &Path) -> Option<PathBuf> {
    if crun.components().count() > 1 {
        return crun.is_file().then(|| crun.to_owned());
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(crun))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup2_mount_holding_a_controller_beside_v1_is_named() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("memory")).unwrap();
        std::fs::create_dir_all(root.path().join("unified")).unwrap();
        std::fs::write(root.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        assert_eq!(hybrid_controllers(root.path()).as_deref(), Some("hugetlb"));
        std::fs::write(root.path().join("unified/cgroup.controllers"), "\n").unwrap();
        assert_eq!(hybrid_controllers(root.path()), None);
    }

    #[test]
    fn a_missing_crun_is_a_reason_not_a_crash() {
        let reason = check(Path::new("/nonexistent/crun"), UserNamespace::PerRun)
            .unwrap_err()
            .to_string();
        assert!(reason.contains("not installed"), "{reason}");
        let reason = check(Path::new("crun"), UserNamespace::Auto)
            .unwrap_err()
            .to_string();
        assert!(reason.contains("userns auto"), "{reason}");
    }
}
