//! The podman CLI, for what only it does here: building images (`podman
//! build`, `import`, `image inspect`, `prune`). Runs go through the REST
//! API; this is blocking and used by the image builder only.

use std::process::{Command, Stdio};

use super::{parse_images, ListedImage, Podman};
use crate::naming::IMAGE_PREFIX;

/// A podman command with the project's configuration.
pub fn command(podman: &Podman) -> Command {
    let mut cmd = Command::new(podman.binary());
    cmd.env("CONTAINERS_CONF", podman.conf_path());
    cmd
}

/// Images named `localhost/whipcode-*`, one entry per name: one `podman
/// images` call. Empty when podman cannot list them.
pub fn project_images(podman: &Podman) -> Vec<ListedImage> {
    let out = command(podman)
        .args(["images", "--filter"])
        .arg(format!("reference={IMAGE_PREFIX}*"))
        .args(["--format", "json"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            parse_images(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}
