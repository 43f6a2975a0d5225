//! Building one image: a debootstrap root imported into podman, or a
//! `podman build` of its Containerfile, then its version label; every step's
//! output goes to the image's log.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::fetch::download;
use super::logs;
use super::outcome::{BuildError, Outcome};
use super::plan::{containerfile, recipe_hash, KEYRING, MIRROR};
use super::store::{image_id, inspect};
use crate::languages::Recipe;
use crate::naming::{image_ref, RECIPE_LABEL, VERSION_LABEL};
use crate::sandbox::podman::{cli, Podman};

pub(super) fn build_one(
    podman: &Podman,
    name: &str,
    recipe: &Recipe,
    dep_ids: &[(String, String)],
    log_dir: &Path,
    download_dir: &Path,
) -> Outcome {
    let image = image_ref(name);
    let hash = recipe_hash(recipe, dep_ids);
    if inspect(
        podman,
        &image,
        &format!("{{{{index .Labels \"{RECIPE_LABEL}\"}}}}"),
    )
    .as_deref()
        == Some(hash.as_str())
    {
        return Outcome::UpToDate;
    }
    let started = Instant::now();
    let log = log_dir.join(format!("{name}.log"));
    let built = match &recipe.debootstrap {
        Some(suite) => debootstrap(podman, &image, suite, &hash, &log),
        None => podman_build(podman, &image, recipe, &hash, &log, download_dir),
    };
    let labelled = built.and_then(|()| match &recipe.version {
        Some(command) => label_version(podman, &image, command, &log),
        None => Ok(()),
    });
    match labelled {
        Ok(()) => Outcome::Built {
            seconds: started.elapsed().as_secs(),
        },
        Err(error) => {
            append_log(&log, &error.to_string());
            Outcome::Failed { log }
        }
    }
}

fn append_log(log: &Path, message: &str) {
    if let Ok(mut file) = logs::append(log) {
        let _ = writeln!(file, "whipcode: {message}");
    }
}

fn log_files(log: &Path) -> Result<(std::fs::File, std::fs::File), BuildError> {
    let file = logs::create(log).map_err(BuildError::io(log.display()))?;
    let copy = file.try_clone().map_err(BuildError::io(log.display()))?;
    Ok((file, copy))
}

fn debootstrap(
    podman: &Podman,
    image: &str,
    suite: &str,
    hash: &str,
    log: &Path,
) -> Result<(), BuildError> {
    let root = tempfile::Builder::new()
        .prefix("whipcode-rootfs-")
        .tempdir_in("/var/tmp")
        .map_err(BuildError::io("a temporary directory in /var/tmp"))?;
    if !Path::new(KEYRING).is_file() {
        return Err(BuildError::NoKeyring(KEYRING));
    }
    let (out, err) = log_files(log)?;
    let status = Command::new("debootstrap")
        .arg(format!("--keyring={KEYRING}"))
        .args(["--force-check-gpg", "--variant=minbase", suite])
        .arg(root.path())
        .arg(MIRROR)
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(BuildError::spawn(
            "debootstrap (apt-get install debootstrap)",
        ))?;
    if !status.success() {
        return Err(BuildError::failed(format!("debootstrap {suite}"), status));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(BuildError::spawn("tar"))?;
    let tar_out = tar.stdout.take().expect("piped");
    let (out, err) = log_files(&log.with_extension("import.log"))?;
    let imported = cli::command(podman)
        .args([
            "import",
            "--change",
            &format!("LABEL {RECIPE_LABEL}={hash}"),
            "-",
            image,
        ])
        .stdin(tar_out)
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(BuildError::spawn("podman import"))?;
    let _ = tar.wait();
    if imported.success() {
        Ok(())
    } else {
        Err(BuildError::failed("podman import", imported))
    }
}

fn podman_build(
    podman: &Podman,
    image: &str,
    recipe: &Recipe,
    hash: &str,
    log: &Path,
    download_dir: &Path,
) -> Result<(), BuildError> {
    let text = containerfile(recipe)
        .ok_or_else(|| BuildError::failed("planning", "the recipe makes no Containerfile"))?;
    let context = tempfile::tempdir().map_err(BuildError::io("a build context directory"))?;
    for fetch in &recipe.fetch {
        let cached = download(fetch, download_dir)?;
        let target = context.path().join(&fetch.file);
        if std::fs::hard_link(&cached, &target).is_err() {
            std::fs::copy(&cached, &target).map_err(BuildError::io(&fetch.file))?;
        }
    }
    let file = context.path().join("Containerfile");
    std::fs::write(&file, text).map_err(BuildError::io(file.display()))?;
    let (out, err) = log_files(log)?;
    let status = cli::command(podman)
        .args(["build", "--network=host", "--pull=never", "--layers=false"])
        .arg(format!("--label={RECIPE_LABEL}={hash}"))
        .arg(format!("--tag={image}"))
        .arg("--file")
        .arg(&file)
        .arg(context.path())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(BuildError::spawn("podman build"))?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::failed("podman build", status))
    }
}

/// Runs `command` in `image` and records its first line as the version label.
fn label_version(
    podman: &Podman,
    image: &str,
    command: &str,
    log: &Path,
) -> Result<(), BuildError> {
    let out = cli::command(podman)
        .args([
            "run",
            "--rm",
            "--network=none",
            "--pull=never",
            "--user=65534",
            "--read-only",
            "--tmpfs=/tmp:rw,exec,size=64m",
            "--env=HOME=/tmp",
            image,
            "sh",
            "-c",
            &format!("{command} 2>&1"),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(BuildError::spawn("podman run"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(100)
        .collect();
    if !out.status.success() || version.is_empty() {
        return Err(BuildError::failed(
            format!("version command {command:?}"),
            text.trim(),
        ));
    }
    append_log(log, &format!("version: {version}"));
    let id = image_id(podman, image).ok_or_else(|| BuildError::Missing(image.to_owned()))?;
    let context = tempfile::tempdir().map_err(BuildError::io("a build context directory"))?;
    let file = context.path().join("Containerfile");
    std::fs::write(&file, format!("FROM {id}\n")).map_err(BuildError::io(file.display()))?;
    let status = cli::command(podman)
        .args(["build", "--pull=never", "--quiet"])
        .arg(format!("--label={VERSION_LABEL}={version}"))
        .arg(format!("--tag={image}"))
        .arg("--file")
        .arg(&file)
        .arg(context.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(BuildError::spawn("podman build"))?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::failed("labelling the version", status))
    }
}
