//! `--build-images`: the base image by debootstrap from Debian's mirror, then
//! each language's image with `podman build` on top of it. No registry is
//! ever contacted. Each image carries a label with the hash of its recipe;
//! an image whose label matches is skipped, so a no-change build is quick.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::languages::{Language, IMAGE_PREFIX};
use crate::sandbox::engine::Engine;

pub const BASE_IMAGE: &str = "localhost/whipcode-base:latest";
const RECIPE_LABEL: &str = "whipcode.recipe";
/// The toolchain version detected in a built image.
pub const VERSION_LABEL: &str = "whipcode.version";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Base(String),
    #[error("{} image(s) failed: {}", .0.len(), .0.join(", "))]
    Failed(Vec<String>),
}

/// Builds the base image if needed, then every given language's image.
pub fn build_all(
    engine: &Engine,
    languages: &[Arc<Language>],
    log_dir: &Path,
) -> Result<(), ImageError> {
    std::fs::create_dir_all(log_dir)
        .map_err(|e| ImageError::Base(format!("cannot create {}: {e}", log_dir.display())))?;
    let total = Instant::now();
    let base_id = ensure_base(engine, log_dir)?;
    let mut failed = Vec::new();
    let count = languages.len();
    for (i, language) in languages.iter().enumerate() {
        let started = Instant::now();
        print!("[{}/{count}] {:<12} ", i + 1, language.name);
        let _ = std::io::stdout().flush();
        match build_language(engine, language, &base_id, log_dir) {
            Ok(Built::Skipped) => println!("up to date"),
            Ok(Built::Built) => println!("built in {:.1} s", started.elapsed().as_secs_f64()),
            Err(log) => {
                println!(
                    "FAILED after {:.1} s (log: {})",
                    started.elapsed().as_secs_f64(),
                    log.display()
                );
                failed.push(language.name.clone());
            }
        }
    }
    println!("images done in {:.1} s", total.elapsed().as_secs_f64());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ImageError::Failed(failed))
    }
}

enum Built {
    Skipped,
    Built,
}

/// The Containerfile of a language: its packages on top of the base image.
pub fn containerfile(language: &Language) -> String {
    let mut text = format!("FROM {BASE_IMAGE}\n");
    if !language.packages.is_empty() {
        text.push_str(&format!(
            "RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} \\\n \
             && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin\n",
            language.packages.join(" ")
        ));
    }
    text
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

fn image_label(engine: &Engine, image: &str) -> Option<String> {
    let format = format!("{{{{index .Labels \"{RECIPE_LABEL}\"}}}}");
    let out = engine
        .std_command()
        .args(["image", "inspect", "--format", &format, image])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn image_id(engine: &Engine, image: &str) -> Option<String> {
    let out = engine
        .std_command()
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The base image's id, after building it by debootstrap if it is missing
/// or was made from another recipe.
fn ensure_base(engine: &Engine, log_dir: &Path) -> Result<String, ImageError> {
    let recipe = sha256_hex(&["debootstrap --variant=minbase", SUITE, MIRROR]);
    if image_label(engine, BASE_IMAGE).as_deref() == Some(recipe.as_str()) {
        if let Some(id) = image_id(engine, BASE_IMAGE) {
            println!("[base] {BASE_IMAGE} up to date");
            return Ok(id);
        }
    }
    let started = Instant::now();
    println!("[base] debootstrap {SUITE} from {MIRROR} (about a minute)...");
    let root = tempfile::Builder::new()
        .prefix("whipcode-rootfs-")
        .tempdir_in("/var/tmp")
        .map_err(|e| ImageError::Base(format!("cannot make a temporary directory: {e}")))?;
    let log = log_dir.join("base.log");
    let log_file =
        |p: &PathBuf| std::fs::File::create(p).map_err(|e| ImageError::Base(e.to_string()));
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", SUITE])
        .arg(root.path())
        .arg(MIRROR)
        .stdout(log_file(&log)?)
        .stderr(log_file(&log_dir.join("base.err.log"))?)
        .status()
        .map_err(|e| {
            ImageError::Base(format!(
                "cannot run debootstrap (apt-get install debootstrap): {e}"
            ))
        })?;
    if !status.success() {
        return Err(ImageError::Base(format!(
            "debootstrap failed; see {}",
            log.display()
        )));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| ImageError::Base(format!("cannot run tar: {e}")))?;
    let tar_out = tar.stdout.take().expect("piped");
    let imported = engine
        .std_command()
        .args([
            "import",
            "--change",
            &format!("LABEL {RECIPE_LABEL}={recipe}"),
            "-",
            BASE_IMAGE,
        ])
        .stdin(tar_out)
        .stdout(Stdio::null())
        .stderr(log_file(&log_dir.join("base.import.log"))?)
        .status()
        .map_err(|e| ImageError::Base(format!("cannot run podman import: {e}")))?;
    let _ = tar.wait();
    if !imported.success() {
        return Err(ImageError::Base(
            "podman import of the base image failed".into(),
        ));
    }
    println!("[base] built in {:.1} s", started.elapsed().as_secs_f64());
    image_id(engine, BASE_IMAGE)
        .ok_or_else(|| ImageError::Base("base image missing after import".into()))
}

/// Builds one language image unless its recipe label matches; `Err(log path)` on failure.
fn build_language(
    engine: &Engine,
    language: &Language,
    base_id: &str,
    log_dir: &Path,
) -> Result<Built, PathBuf> {
    let image = format!("{IMAGE_PREFIX}{}:latest", language.image);
    let file = containerfile(language);
    let recipe = sha256_hex(&[&file, base_id]);
    if image_label(engine, &image).as_deref() == Some(recipe.as_str()) {
        return Ok(Built::Skipped);
    }
    let log = log_dir.join(format!("{}.log", language.image));
    let context = tempfile::tempdir().map_err(|_| log.clone())?;
    let containerfile_path = context.path().join("Containerfile");
    std::fs::write(&containerfile_path, &file).map_err(|_| log.clone())?;
    let log_file = std::fs::File::create(&log).map_err(|_| log.clone())?;
    let log_err = log_file.try_clone().map_err(|_| log.clone())?;
    let status = engine
        .std_command()
        .args(["build", "--network=host", "--pull=never", "--layers=false"])
        .arg(format!("--label={RECIPE_LABEL}={recipe}"))
        .arg(format!("--label=whipcode.language={}", language.name))
        .arg(format!("--tag={image}"))
        .arg("--file")
        .arg(&containerfile_path)
        .arg(context.path())
        .stdout(log_file)
        .stderr(log_err)
        .status();
    match status {
        Ok(s) if s.success() => Ok(Built::Built),
        _ => Err(log),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::languages::LanguageMap;

    #[test]
    fn a_containerfile_installs_the_packages_on_the_local_base() {
        let map = LanguageMap::load(None).unwrap();
        let c = containerfile(map.get(7).unwrap());
        assert!(c.starts_with("FROM localhost/whipcode-base:latest\n"));
        assert!(c.contains("--no-install-recommends gcc libc6-dev"));
        assert!(c.contains("/var/cache/apt/*.bin"));
        let bash = containerfile(map.get(3).unwrap());
        assert_eq!(bash.lines().count(), 1, "no packages, no RUN");
    }

    #[test]
    fn the_recipe_hash_covers_the_base_image() {
        assert_ne!(
            sha256_hex(&["file", "base1"]),
            sha256_hex(&["file", "base2"])
        );
        assert_ne!(sha256_hex(&["ab", "c"]), sha256_hex(&["a", "bc"]));
    }
}
