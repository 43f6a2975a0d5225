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
/// project images that no recipe names any more — except images mounted
/// (by a running server on the crun engine: podman would delete their
/// files from under its runs; the next build after it stops removes them).
pub(super) fn prune(podman: &Podman, map: &LanguageMap, unlisted: bool) {
    let Some(mounted) = mounted_ids(podman) else {
        println!("images not pruned: podman could not list the mounted ones");
        return;
    };
    let dangling = lines(cli::command(podman).args([
        "images",
        "--no-trunc",
        "--quiet",
        "--filter",
        "dangling=true",
        "--filter",
        &format!("label={RECIPE_LABEL}"),
    ]));
    for id in dangling {
        let id = id.trim_start_matches("sha256:").to_owned();
        if mounted.contains(&id) {
            println!(
                "kept {}: a running server has it mounted",
                &id[..12.min(id.len())]
            );
        } else {
            remove(podman, &id);
        }
    }
    if !unlisted {
        return;
    }
    let known: Vec<String> = map.image_names().map(|n| image_ref(n)).collect();
    for (name, _) in list_images(podman) {
        if known.contains(&name) {
            continue;
        }
        let in_use = image_id(podman, &name).is_some_and(|id| mounted.contains(&id));
        if in_use {
            println!("kept {name}: no recipe names it, but a running server has it mounted");
        } else if remove(podman, &name) {
            println!("removed {name}: no recipe names it");
        }
    }
}

fn remove(podman: &Podman, image: &str) -> bool {
    cli::command(podman)
        .args(["rmi", "--force", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The ids of the images mounted right now (`podman image mount`); `None`
/// when podman cannot say (then nothing is removed).
fn mounted_ids(podman: &Podman) -> Option<Vec<String>> {
    let out = cli::command(podman)
        .args(["image", "mount", "--format", "json"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Some(Vec::new());
    }
    let listed: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
    Some(
        listed
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// The lines a command prints, when it succeeds.
fn lines(command: &mut std::process::Command) -> Vec<String> {
    command
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
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
