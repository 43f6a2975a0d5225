//! What podman holds: an image's labels and id, pruning superseded project
//! images, and the disk report.

use std::process::Stdio;

use crate::languages::LanguageMap;
use crate::naming::{image_ref, RECIPE_LABEL};
use crate::sandbox::podman::{cli, Podman};

pub(super) fn inspect(podman: &Podman, image: &str, format: &str) -> Option<String> {
    let out = cli::command(podman)
        .args(["image", "inspect", "--format", format, image])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(super) fn image_id(podman: &Podman, image: &str) -> Option<String> {
    inspect(podman, image, "{{.Id}}")
}

/// Removes dangling project images (left by rebuilds) and, when asked,
/// project images that no recipe names any more.
pub(super) fn prune(podman: &Podman, map: &LanguageMap, unlisted: bool) {
    let _ = cli::command(podman)
        .args([
            "image",
            "prune",
            "--force",
            "--filter",
            &format!("label={RECIPE_LABEL}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !unlisted {
        return;
    }
    let known: Vec<String> = map.image_names().map(|n| image_ref(n)).collect();
    for (name, _) in list_images(podman) {
        if !known.contains(&name) {
            let removed = cli::command(podman)
                .args(["rmi", "--force", &name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if removed {
                println!("removed {name}: no recipe names it");
            }
        }
    }
}

/// Project images as (reference, size in bytes): one `podman images` call.
fn list_images(podman: &Podman) -> Vec<(String, u64)> {
    cli::project_images(podman)
        .into_iter()
        .map(|image| (image.reference, image.size))
        .collect()
}

/// Prints the project images' disk use: each image's size, and the space
/// their storage takes (shared layers counted once).
pub(super) fn report_disk(podman: &Podman) {
    let images = list_images(podman);
    let sum: u64 = images.iter().map(|(_, s)| s).sum();
    let unique = cli::command(podman)
        .args(["system", "df", "--format", "{{.Type}} {{.Size}}"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("Images"))
                .map(|l| l.trim_start_matches("Images").trim().to_owned())
        });
    println!(
        "disk: {} project images, {:.2} GB if each stood alone; all images on this host share {}",
        images.len(),
        sum as f64 / 1e9,
        unique.unwrap_or_else(|| "?".into())
    );
}
