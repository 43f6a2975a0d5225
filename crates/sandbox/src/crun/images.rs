//! Image roots for the crun engine: podman keeps the images, and each
//! image's root file system is mounted once by podman (`podman image
//! mount`, which counts references) and shared read-only by every run of
//! that image; crun mounts what a run writes (tmpfs) on top in the
//! container's own mount namespace. podman's mount is under a directory
//! only host root may enter (mode 0700), which a container's root (another
//! host uid, in its own user namespace) cannot, so each instance binds it
//! once more under `ROOTS/<instance>/<image id>` (directories anyone may
//! enter), and gives its binds back at shutdown; a dead instance's are
//! unmounted by the next sweep.
//!
//! A rebuilt image is a new image under the same name: when podman's image
//! list changes (its `images.json`, one `stat` per run), every root is
//! looked up again. The old ones stay mounted (runs and warm containers may
//! still start on them) until shutdown; `--build-images` does not remove an
//! image that is mounted, since podman would delete its files from under
//! those runs. At shutdown this process's mounts are given back; those of a
//! server killed with `kill -9` are given back by the next sweep (each bind
//! is named after its image's id).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::OnceCell;

use super::command::output_within;
use crate::error::{CommandError, EngineError};

use crate::job::SandboxError;
use crate::podman::Podman;

/// One image's root, as podman mounted it.
#[derive(Debug, Clone)]
struct Root {
    id: String,
    path: PathBuf,
}

/// How long one podman command (inspect, mount, unmount) may take.
const PODMAN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Host-wide: each instance's binds of image roots, a directory each.
pub const ROOTS: &str = "/run/whipcode/roots";

pub struct ImageRoots {
    podman: Podman,
    /// This instance's directory under [`ROOTS`].
    dir: PathBuf,
    roots: Mutex<HashMap<String, Arc<OnceCell<Root>>>>,
    /// Roots looked up again after a change of images, kept until shutdown.
    retired: Mutex<Vec<Root>>,
    /// When podman's image list last changed, as last seen.
    seen: Mutex<Option<SystemTime>>,
    /// podman's `images.json`, once known (from the first root's path).
    list_file: Mutex<Option<PathBuf>>,
}

impl ImageRoots {
    /// The roots of `instance`, bound under `base` (a directory made here).
    pub fn new(podman: Podman, base: &Path, instance: &str) -> std::io::Result<ImageRoots> {
        use std::os::unix::fs::PermissionsExt;
        let dir = base.join(instance);
        std::fs::create_dir_all(&dir)?;
        for open in [base.parent(), Some(base), Some(dir.as_path())]
            .into_iter()
            .flatten()
        {
            std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(ImageRoots {
            podman,
            dir,
            roots: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            seen: Mutex::new(None),
            list_file: Mutex::new(None),
        })
    }

    /// The root of `image`, mounted read-only by podman.
    pub async fn root(&self, image: &str) -> Result<PathBuf, SandboxError> {
        self.forget_if_images_changed();
        let cell = {
            let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(roots.entry(image.to_owned()).or_default())
        };
        let root = cell.get_or_try_init(|| self.mount(image)).await?;
        Ok(root.path.clone())
    }

    async fn mount(&self, image: &str) -> Result<Root, SandboxError> {
        // Read before the lookup: a change during it is seen at the next run.
        let known = self
            .list_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let before = known.as_deref().and_then(modified);
        let id = self
            .podman_output(&["image", "inspect", "--format", "{{.Id}}", image])
            .await
            .map_err(|e| {
                let stderr = e.stderr().unwrap_or_default();
                if stderr.contains("image not known") || stderr.contains("no such image") {
                    SandboxError::ImageMissing {
                        image: image.to_owned(),
                    }
                } else {
                    SandboxError::Engine(e.into())
                }
            })?;
        let path = self
            .podman_output(&["image", "mount", &id])
            .await
            .map_err(|e| SandboxError::Engine(e.into()))?;
        let merged = PathBuf::from(path);
        let path = self.dir.join(&id);
        bind(&merged, &path).await.map_err(SandboxError::Engine)?;
        // <graph root>/overlay/<layer>/merged → <graph root>/overlay-images/images.json
        if known.is_none() {
            if let Some(graph) = merged.ancestors().nth(3) {
                let file = graph.join("overlay-images/images.json");
                *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = modified(&file);
                *self.list_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
            }
        } else {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.is_none() {
                *seen = before;
            }
        }
        tracing::info!(%image, root = %path.display(), "image root mounted");
        Ok(Root { id, path })
    }

    /// Looks every root up again when podman's image list changed since
    /// last seen (an image was built, tagged or removed); the old ones are
    /// kept mounted until shutdown.
    fn forget_if_images_changed(&self) {
        let Some(file) = self
            .list_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let now = modified(&file);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return;
            }
            *seen = now;
        }
        let old = std::mem::take(&mut *self.roots.lock().unwrap_or_else(|e| e.into_inner()));
        let ids: Vec<String> = old
            .values()
            .filter_map(|c| c.get())
            .map(|r| r.id.clone())
            .collect();
        if !ids.is_empty() {
            tracing::info!(
                roots = ids.len(),
                "images changed: their roots are looked up again"
            );
        }
        let old = old.values().filter_map(|c| c.get().cloned());
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(old);
    }

    /// Gives back every mount this process made, and any left in its
    /// directory (at shutdown; at start, what a predecessor of the same
    /// instance name left).
    pub async fn release(&self) {
        let old = std::mem::take(&mut *self.roots.lock().unwrap_or_else(|e| e.into_inner()));
        let retired = std::mem::take(&mut *self.retired.lock().unwrap_or_else(|e| e.into_inner()));
        let ids: Vec<String> = old
            .values()
            .filter_map(|c| c.get())
            .chain(&retired)
            .map(|r| r.id.clone())
            .collect();
        unmount(&self.podman, &self.dir, &ids).await;
        unbind_dir(&self.podman, &self.dir).await;
    }

    /// Gives back what the dead instance `instance` left bound beside this one.
    pub async fn release_dead(&self, instance: &str) {
        if let Some(base) = self.dir.parent() {
            unbind_dir(&self.podman, &base.join(instance)).await;
        }
    }

    async fn podman_output(&self, args: &[&str]) -> Result<String, CommandError> {
        let mut podman = tokio::process::Command::new(self.podman.binary());
        podman
            .env("CONTAINERS_CONF", self.podman.conf_path())
            .args(args);
        output_within(podman, PODMAN_DEADLINE).await
    }
}

/// `merged` bound at `at` (made), unless something is mounted there already.
async fn bind(merged: &Path, at: &Path) -> Result<(), EngineError> {
    if is_mount_point(at) {
        return Ok(());
    }
    std::fs::create_dir_all(at).map_err(EngineError::io(format!("making {}", at.display())))?;
    // Open to a container's root (another host uid), whatever the umask.
    for dir in [at.parent(), Some(at)].into_iter().flatten() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(
            EngineError::io(format!("opening {} to containers", dir.display())),
        )?;
    }
    let mut mount = tokio::process::Command::new("mount");
    mount.arg("--bind").arg(merged).arg(at);
    Ok(quietly(mount).await?)
}

/// Whether `path` is in the host's mount table.
fn is_mount_point(path: &Path) -> bool {
    let Some(path) = path.to_str() else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|table| {
            table
                .lines()
                .any(|line| line.split(' ').nth(4) == Some(path))
        })
        .unwrap_or(false)
}

/// Unmounts (lazily: runs may still use them) every bind under `dir`,
/// gives podman back its mount of each (a directory is named after its
/// image's id), and removes the directories: a dead instance's roots, or
/// what this one's predecessor of the same name left.
pub async fn unbind_dir(podman: &Podman, dir: &Path) {
    let ids: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default();
    unmount(podman, dir, &ids).await;
    let _ = std::fs::remove_dir(dir);
}

async fn unmount(podman: &Podman, dir: &Path, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    for id in ids {
        if is_mount_point(&dir.join(id)) {
            let mut umount = tokio::process::Command::new("umount");
            umount.arg("-l").arg(dir.join(id));
            let _ = quietly(umount).await;
        }
        let _ = std::fs::remove_dir(dir.join(id));
    }
    let mut unmount = tokio::process::Command::new(podman.binary());
    unmount
        .env("CONTAINERS_CONF", podman.conf_path())
        .args(["image", "unmount"])
        .args(ids);
    if let Err(e) = quietly(unmount).await {
        tracing::warn!(?ids, error = %e, "podman image unmount failed");
    }
}

/// Runs `command` to its end within [`PODMAN_DEADLINE`]; its stderr when it fails.
async fn quietly(command: tokio::process::Command) -> Result<(), CommandError> {
    output_within(command, PODMAN_DEADLINE).await.map(drop)
}

fn modified(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}
