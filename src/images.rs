//! `--build-images`: every image the language map names, built from its
//! recipe with no container registry: roots by debootstrap from Debian's
//! mirror, the rest with `podman build` on top of them.
//!
//! Each image is labelled with a hash of its recipe and of the ids of the
//! images it builds on, so an unchanged image is skipped and a rebuilt parent
//! rebuilds its children. After a build, the recipe's `version` command runs
//! in the image and its first line becomes the `whipcode.version` label.
//! Independent images build in parallel; a failure stops only the images
//! that build on it. Superseded project images are removed afterwards.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::languages::{Language, LanguageMap, Recipe};
use crate::naming::{image_ref, RECIPE_LABEL, VERSION_LABEL};
use crate::sandbox::podman::{cli, Podman};
const MIRROR: &str = "http://deb.debian.org/debian";
/// Lines of apt cleanup every package install ends with (the `*.bin` caches
/// alone are ~76 MB per image).
const APT_CLEAN: &str =
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Setup(String),
    #[error("{} image(s) failed: {}", .0.len(), .0.join(", "))]
    Failed(Vec<String>),
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Images built at once.
    pub jobs: usize,
    pub log_dir: PathBuf,
    /// Remove project images no recipe names any more (only when building all).
    pub prune_unlisted: bool,
    /// Where fetched files are kept, by checksum, between builds.
    pub download_dir: PathBuf,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    Built {
        seconds: u64,
    },
    Failed {
        log: PathBuf,
    },
    /// Not attempted: an image it builds on failed.
    Blocked {
        on: String,
    },
}

/// Builds the images of `languages` (and what they build on), `jobs` at a time.
pub fn build_all(
    podman: &Podman,
    map: &LanguageMap,
    languages: &[Arc<Language>],
    options: &BuildOptions,
) -> Result<(), ImageError> {
    std::fs::create_dir_all(&options.log_dir).map_err(|e| {
        ImageError::Setup(format!("cannot create {}: {e}", options.log_dir.display()))
    })?;
    let mut wanted: Vec<String> = languages.iter().map(|l| l.image.clone()).collect();
    wanted.dedup();
    let order = map.build_order(&wanted).map_err(ImageError::Setup)?;
    let started = Instant::now();
    let outcomes = schedule(podman, map, &order, options);
    let failed: Vec<String> = order
        .iter()
        .filter(|name| {
            matches!(
                outcomes.get(*name),
                Some(Outcome::Failed { .. } | Outcome::Blocked { .. })
            )
        })
        .cloned()
        .collect();
    println!(
        "{} image(s) in {:.0} s: {} built, {} up to date, {} failed",
        order.len(),
        started.elapsed().as_secs_f64(),
        outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Built { .. }))
            .count(),
        outcomes
            .values()
            .filter(|o| **o == Outcome::UpToDate)
            .count(),
        failed.len()
    );
    prune(podman, map, options.prune_unlisted);
    report_disk(podman);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ImageError::Failed(failed))
    }
}

/// Runs builds in dependency order, at most `jobs` at once, printing progress.
fn schedule(
    podman: &Podman,
    map: &LanguageMap,
    order: &[String],
    options: &BuildOptions,
) -> BTreeMap<String, Outcome> {
    let total = order.len();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut running: BTreeMap<String, Instant> = BTreeMap::new();
    let (tx, rx) = mpsc::channel::<(String, Outcome, Option<String>)>();
    let tty = std::io::stdout().is_terminal();
    let progress = Progress { total, tty };

    while outcomes.len() < total {
        // Start whatever is ready, up to the job limit.
        for name in order {
            if running.len() >= options.jobs.max(1) {
                break;
            }
            if outcomes.contains_key(name) || running.contains_key(name) {
                continue;
            }
            let recipe = Arc::clone(map.recipe(name).expect("validated"));
            let deps = recipe.depends_on();
            if let Some(bad) = deps.iter().find(|d| {
                matches!(
                    outcomes.get(*d),
                    Some(Outcome::Failed { .. } | Outcome::Blocked { .. })
                )
            }) {
                let outcome = Outcome::Blocked { on: bad.clone() };
                progress.line(outcomes.len() + 1, name, &outcome);
                outcomes.insert(name.clone(), outcome);
                continue;
            }
            if !deps.iter().all(|d| ids.contains_key(d)) {
                continue;
            }
            let dep_ids: Vec<(String, String)> =
                deps.iter().map(|d| (d.clone(), ids[d].clone())).collect();
            let (podman, tx, name_owned) = (podman.clone(), tx.clone(), name.clone());
            let dirs = (options.log_dir.clone(), options.download_dir.clone());
            running.insert(name.clone(), Instant::now());
            std::thread::spawn(move || {
                let outcome = build_one(&podman, &name_owned, &recipe, &dep_ids, &dirs.0, &dirs.1);
                let id = match outcome {
                    Outcome::UpToDate | Outcome::Built { .. } => {
                        image_id(&podman, &image_ref(&name_owned))
                    }
                    _ => None,
                };
                let _ = tx.send((name_owned, outcome, id));
            });
        }
        if running.is_empty() {
            continue;
        }
        progress.status(outcomes.len(), &running);
        let Ok((name, mut outcome, id)) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        running.remove(&name);
        match id {
            Some(id) => {
                ids.insert(name.clone(), id);
            }
            None if !matches!(outcome, Outcome::Failed { .. }) => {
                outcome = Outcome::Failed {
                    log: options.log_dir.join(format!("{name}.log")),
                };
            }
            None => {}
        }
        progress.line(outcomes.len() + 1, &name, &outcome);
        outcomes.insert(name, outcome);
    }
    progress.clear();
    outcomes
}

/// Progress output: a line per finished image, and on a terminal a status
/// line below naming what is building.
struct Progress {
    total: usize,
    tty: bool,
}

impl Progress {
    fn line(&self, done: usize, name: &str, outcome: &Outcome) {
        let what = match outcome {
            Outcome::UpToDate => "up to date".to_owned(),
            Outcome::Built { seconds } => format!("built in {seconds} s"),
            Outcome::Failed { log } => format!("FAILED (log: {})", log.display()),
            Outcome::Blocked { on } => format!("FAILED: {on} failed"),
        };
        self.clear();
        println!("[{done:>2}/{}] {name:<14} {what}", self.total);
    }

    fn status(&self, done: usize, running: &BTreeMap<String, Instant>) {
        if !self.tty {
            return;
        }
        let width = 24;
        let filled = done * width / self.total.max(1);
        let names: Vec<String> = running
            .iter()
            .map(|(n, t)| format!("{n} {}s", t.elapsed().as_secs()))
            .collect();
        print!(
            "\r\x1b[2K[{}{}] {done}/{}  building: {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.total,
            names.join(", ")
        );
        let _ = std::io::stdout().flush();
    }

    fn clear(&self) {
        if self.tty {
            print!("\r\x1b[2K");
        }
    }
}

/// The Containerfile of a `from` + `packages` or `containerfile` recipe,
/// image placeholders expanded. `None` for debootstrap roots.
pub fn containerfile(recipe: &Recipe) -> Option<String> {
    if let Some(text) = &recipe.containerfile {
        let mut out = text.clone();
        for dep in recipe.depends_on() {
            out = out.replace(&format!("{{image:{dep}}}"), &image_ref(&dep));
        }
        return Some(out);
    }
    let from = recipe.from.as_ref()?;
    let mut text = format!("FROM {}\n", image_ref(from));
    if !recipe.packages.is_empty() {
        text.push_str(&format!(
            "RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {} \\\n && {APT_CLEAN}\n",
            recipe.packages.join(" ")
        ));
    }
    Some(text)
}

/// The hash an image is labelled with: its recipe, and what it builds on.
pub fn recipe_hash(recipe: &Recipe, dep_ids: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    let mut part = |s: &str| {
        hasher.update((s.len() as u64).to_le_bytes());
        hasher.update(s.as_bytes());
    };
    match &recipe.debootstrap {
        Some(suite) => {
            part("debootstrap --variant=minbase");
            part(suite);
            part(MIRROR);
        }
        None => part(&containerfile(recipe).unwrap_or_default()),
    }
    for fetch in &recipe.fetch {
        part(&fetch.file);
        part(&fetch.url);
        part(&fetch.sha256);
    }
    part(recipe.version.as_deref().unwrap_or(""));
    for (name, id) in dep_ids {
        part(name);
        part(id);
    }
    hex::encode(hasher.finalize())
}

fn build_one(
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
        Err(message) => {
            append_log(&log, &message);
            Outcome::Failed { log }
        }
    }
}

fn append_log(log: &Path, message: &str) {
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(file, "whipcode: {message}");
    }
}

fn log_files(log: &Path) -> Result<(std::fs::File, std::fs::File), String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let copy = file.try_clone().map_err(|e| e.to_string())?;
    Ok((file, copy))
}

fn debootstrap(
    podman: &Podman,
    image: &str,
    suite: &str,
    hash: &str,
    log: &Path,
) -> Result<(), String> {
    let root = tempfile::Builder::new()
        .prefix("whipcode-rootfs-")
        .tempdir_in("/var/tmp")
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let (out, err) = log_files(log)?;
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", suite])
        .arg(root.path())
        .arg(MIRROR)
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run debootstrap (apt-get install debootstrap): {e}"))?;
    if !status.success() {
        return Err(format!("debootstrap {suite} failed"));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
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
        .map_err(|e| format!("cannot run podman import: {e}"))?;
    let _ = tar.wait();
    if imported.success() {
        Ok(())
    } else {
        Err("podman import failed".into())
    }
}

fn podman_build(
    podman: &Podman,
    image: &str,
    recipe: &Recipe,
    hash: &str,
    log: &Path,
    download_dir: &Path,
) -> Result<(), String> {
    let text = containerfile(recipe).ok_or("no Containerfile")?;
    let context = tempfile::tempdir().map_err(|e| e.to_string())?;
    for fetch in &recipe.fetch {
        let cached = download(fetch, download_dir)?;
        let target = context.path().join(&fetch.file);
        if std::fs::hard_link(&cached, &target).is_err() {
            std::fs::copy(&cached, &target).map_err(|e| format!("{}: {e}", fetch.file))?;
        }
    }
    let file = context.path().join("Containerfile");
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("cannot run podman build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("podman build failed ({status})"))
    }
}

/// The file `fetch` names, downloaded by the host (curl) once and kept under
/// `dir` by its checksum; a download whose SHA-256 differs is refused.
fn download(fetch: &crate::languages::Fetch, dir: &Path) -> Result<PathBuf, String> {
    let cached = dir.join(fetch.sha256.to_ascii_lowercase());
    if cached.is_file() {
        return Ok(cached);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "--max-time", "900", "-o"])
        .arg(partial.path())
        .arg(&fetch.url)
        .status()
        .map_err(|e| format!("cannot run curl (apt-get install curl): {e}"))?;
    if !status.success() {
        return Err(format!("downloading {} failed ({status})", fetch.url));
    }
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(partial.path()).map_err(|e| e.to_string())?;
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    let got = hex::encode(hasher.finalize());
    if !got.eq_ignore_ascii_case(&fetch.sha256) {
        return Err(format!(
            "{} has SHA-256 {got}, the recipe expects {}",
            fetch.url, fetch.sha256
        ));
    }
    partial
        .persist(&cached)
        .map_err(|e| format!("{}: {}", cached.display(), e.error))?;
    Ok(cached)
}

/// Runs `command` in `image` and records its first line as the version label.
fn label_version(podman: &Podman, image: &str, command: &str, log: &Path) -> Result<(), String> {
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
        .map_err(|e| format!("cannot run podman: {e}"))?;
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
        return Err(format!(
            "version command {command:?} failed: {}",
            text.trim()
        ));
    }
    append_log(log, &format!("version: {version}"));
    let id = image_id(podman, image).ok_or("image missing after build")?;
    let context = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = context.path().join("Containerfile");
    std::fs::write(&file, format!("FROM {id}\n")).map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("cannot run podman build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("labelling the version failed".into())
    }
}

fn inspect(podman: &Podman, image: &str, format: &str) -> Option<String> {
    let out = cli::command(podman)
        .args(["image", "inspect", "--format", format, image])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn image_id(podman: &Podman, image: &str) -> Option<String> {
    inspect(podman, image, "{{.Id}}")
}

/// Removes dangling project images (left by rebuilds) and, when asked,
/// project images that no recipe names any more.
fn prune(podman: &Podman, map: &LanguageMap, unlisted: bool) {
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
fn report_disk(podman: &Podman) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(text: &str) -> Recipe {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_packages_recipe_installs_them_on_its_parent_and_cleans_apt() {
        let r = recipe("from = \"base\"\npackages = [\"gcc\", \"libc6-dev\"]\n");
        let c = containerfile(&r).unwrap();
        assert!(c.starts_with("FROM localhost/whipcode-base:latest\n"));
        assert!(c.contains("--no-install-recommends gcc libc6-dev"));
        assert!(c.contains("/var/cache/apt/*.bin"));
        let bare = containerfile(&recipe("from = \"base\"\n")).unwrap();
        assert_eq!(bare.lines().count(), 1, "no packages, no RUN");
    }

    #[test]
    fn containerfile_placeholders_name_dependencies() {
        let r = recipe(
            "containerfile = \"FROM {image:base} AS fetch\\nRUN x\\nFROM {image:javascript}\\nCOPY --from=fetch /a /a\\n\"\n",
        );
        assert_eq!(r.depends_on(), vec!["base", "javascript"]);
        let c = containerfile(&r).unwrap();
        assert!(c.contains("FROM localhost/whipcode-base:latest AS fetch"));
        assert!(c.contains("FROM localhost/whipcode-javascript:latest\n"));
    }

    #[test]
    fn the_hash_covers_the_recipe_the_version_command_and_the_parents_ids() {
        let r = recipe("from = \"base\"\npackages = [\"perl\"]\n");
        let ids = |id: &str| vec![("base".to_owned(), id.to_owned())];
        let h = recipe_hash(&r, &ids("1"));
        assert_ne!(h, recipe_hash(&r, &ids("2")), "parent rebuilt");
        let other = recipe("from = \"base\"\npackages = [\"perl\", \"x\"]\n");
        assert_ne!(h, recipe_hash(&other, &ids("1")), "packages changed");
        let versioned = recipe("from = \"base\"\npackages = [\"perl\"]\nversion = \"perl -v\"\n");
        assert_ne!(h, recipe_hash(&versioned, &ids("1")), "version command");
        assert_eq!(h, recipe_hash(&r, &ids("1")), "stable");
    }
}
