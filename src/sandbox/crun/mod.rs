//! The crun engine: each container is `crun run` in the foreground as this
//! process's child, its stdio pipes this process holds, its exit status the
//! container's. No service, conmon or exit command on the run path; podman
//! keeps the images ([`images`]).
//!
//! On the host, one directory per instance under [`BASE`]: its owner (the
//! server process), crun's state root (`state/`) and one bundle per
//! container (`bundles/<name>/`: `config.json`, and `labels.json` for the
//! sweeps). A container's cgroup is `/whipcode/<instance>/<name>` in every
//! hierarchy, so its figures are read from a known place.
//!
//! - [`oci`]: the OCI configuration written for each container, from the one policy.
//! - [`images`]: image roots, mounted once by podman and shared read-only.
//! - [`host`]: whether this host can run crun, and what to do when it cannot.

pub mod host;
pub mod images;
pub mod oci;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio::sync::watch;

use super::cgroup::Layout;
use super::engine::{Budget, Demuxed, Engine, Labels, Launched, EVENT_BUFFER, STDERR_CAP};
use super::job::{BoxFuture, SandboxError};
use super::owner::Owner;
use super::policy::{self, Plan};
use images::ImageRoots;

/// Host-wide: every whipcode instance keeps its crun state under here.
pub const BASE: &str = "/run/whipcode/crun";
/// How long a killed container gets to be reaped by its `crun run`.
const KILL_PATIENCE: Duration = Duration::from_secs(10);
/// How long one crun command (kill, delete) may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

/// A container's exit as its `crun run` reported it: `None` while it runs.
type Exit = watch::Receiver<Option<i32>>;

pub struct CrunEngine {
    crun: PathBuf,
    base: PathBuf,
    instance: String,
    layout: Layout,
    images: ImageRoots,
    /// The project's seccomp profile in OCI form, made once.
    seccomp: Value,
    /// The `crun run` children of this process, by container name.
    children: Mutex<HashMap<String, Exit>>,
}

impl CrunEngine {
    /// The engine of `instance`, its directory made (and its owner
    /// written) under `base`.
    pub fn new(
        crun: PathBuf,
        base: &Path,
        instance: &str,
        layout: Layout,
        images: ImageRoots,
    ) -> std::io::Result<CrunEngine> {
        check_instance(instance).map_err(std::io::Error::other)?;
        let dir = base.join(instance);
        std::fs::create_dir_all(dir.join("state"))?;
        std::fs::create_dir_all(dir.join("bundles"))?;
        std::fs::set_permissions(base, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        std::fs::write(dir.join("owner"), Owner::current().to_line())?;
        Ok(CrunEngine {
            crun,
            base: base.to_owned(),
            instance: instance.to_owned(),
            layout,
            images,
            seccomp: oci::seccomp(&super::seccomp::profile()),
            children: Mutex::new(HashMap::new()),
        })
    }

    /// Before the first run: what a predecessor of the same instance name
    /// left bound (a server killed with `kill -9` and started again).
    pub async fn prepare(&self) {
        self.images.release().await;
    }

    fn dir(&self) -> PathBuf {
        self.base.join(&self.instance)
    }

    /// Where container `name` of `instance` has its cgroup, in every hierarchy.
    pub fn cgroup_path(instance: &str, name: &str) -> String {
        format!("/whipcode/{instance}/{name}")
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, Exit>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn launch(&self, plan: &Plan<'_>, budget: Budget) -> Result<Launched, SandboxError> {
        let failed = |what: &str, e: std::io::Error| SandboxError::Engine(format!("{what}: {e}"));
        let rootfs = self.images.root(plan.image).await?;
        let cgroup = Self::cgroup_path(plan.instance, plan.name);
        let bundle = self.dir().join("bundles").join(plan.name);
        let config = oci::config(plan, &rootfs, &cgroup, &self.seccomp);
        let labels = Value::Object(policy::labels(plan));
        tokio::fs::create_dir(&bundle)
            .await
            .map_err(|e| failed("bundle directory", e))?;
        tokio::fs::write(bundle.join("labels.json"), labels.to_string())
            .await
            .map_err(|e| failed("labels.json", e))?;
        tokio::fs::write(bundle.join("config.json"), config.to_string())
            .await
            .map_err(|e| failed("config.json", e))?;
        let mut child = Command::new(&self.crun)
            .arg("--root")
            .arg(self.dir().join("state"))
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(plan.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's ^C to the server is not
            // the container's.
            .process_group(0)
            .spawn()
            .map_err(|e| failed("crun", e))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxError::Engine("crun's pipes were not made".into()));
        };
        let (exited, exit) = watch::channel(None);
        self.children().insert(plan.name.to_owned(), exit.clone());
        tokio::spawn(async move {
            let code = child.wait().await.map_or(-1, exit_code);
            let _ = exited.send(Some(code));
        });
        let (events_in, events) = tokio::io::duplex(EVENT_BUFFER);
        Ok(Launched {
            cgroup: Some(self.layout.at(&cgroup)),
            stdin: Box::pin(stdin),
            events,
            demux: tokio::spawn(pipes(stdout, stderr, events_in, budget)),
            exit: Box::new(move |patience| Box::pin(wait_exit(exit, patience))),
        })
    }

    /// Kills the container, waits for its `crun run` to reap it, deletes
    /// whatever crun left, and removes its bundle.
    async fn remove_container(&self, name: &str) -> Result<(), String> {
        let Some(dir) = self.dir_of(name) else {
            return Ok(());
        };
        let state = dir.join("state");
        let ours = self.children().get(name).cloned();
        match ours {
            Some(mut exit) => {
                let reaped = async {
                    loop {
                        let _ = self.crun(&state, &["kill", name, "KILL"]).await;
                        if tokio::time::timeout(
                            Duration::from_millis(500),
                            exit.wait_for(Option::is_some),
                        )
                        .await
                        .is_ok()
                        {
                            return;
                        }
                    }
                };
                let _ = tokio::time::timeout(KILL_PATIENCE, reaped).await;
            }
            // Another process's (a dead server's): its orphaned `crun run`
            // may still be there to reap it; `delete --force` below if not.
            None => {
                let _ = self.crun(&state, &["kill", name, "KILL"]).await;
                for _ in 0..20 {
                    if !state.join(name).exists() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        if state.join(name).exists() {
            let deleted = self.crun(&state, &["delete", "--force", name]).await;
            if state.join(name).exists() {
                return Err(format!(
                    "crun delete --force {name}: {}",
                    deleted.err().unwrap_or_default()
                ));
            }
        }
        match tokio::fs::remove_dir_all(dir.join("bundles").join(name)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("bundle of {name}: {e}"))
            }
            _ => {}
        }
        self.children().remove(name);
        Ok(())
    }

    /// The instance directory holding container `name`, if any does.
    fn dir_of(&self, name: &str) -> Option<PathBuf> {
        if name.contains('/') || name.starts_with('.') {
            return None;
        }
        let own = self.dir();
        std::iter::once(own)
            .chain(instance_dirs(&self.base))
            .find(|dir| {
                dir.join("bundles").join(name).exists() || dir.join("state").join(name).exists()
            })
    }

    /// One crun command on state root `state`; crun's message when it fails.
    async fn crun(&self, state: &Path, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.crun)
            .arg("--root")
            .arg(state)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(COMMAND_DEADLINE, out).await {
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "crun {} took over {COMMAND_DEADLINE:?}",
                args.join(" ")
            )),
        }
    }

    /// Every container in every instance's directory, with its labels (a
    /// bundle whose labels cannot be read is its instance's, ownerless).
    fn containers(&self) -> Vec<(String, Labels)> {
        let mut found = Vec::new();
        for dir in instance_dirs(&self.base) {
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
                    .unwrap_or_else(|| {
                        Labels::from([(crate::naming::INSTANCE_LABEL.to_owned(), instance.clone())])
                    });
                found.push((name, labels));
            }
        }
        found
    }

    /// Removes an instance's directory, image binds and cgroup parents once
    /// it holds no container and its owner is gone (or is this process, at
    /// shutdown).
    async fn tidy_instance(&self, dir: &Path, closing: bool) {
        let owner = std::fs::read_to_string(dir.join("owner"))
            .ok()
            .and_then(|t| Owner::from_line(&t));
        let mine = owner.as_ref() == Some(&Owner::current());
        let gone = owner.is_none_or(|o| !o.is_alive());
        let empty = std::fs::read_dir(dir.join("bundles")).map_or(true, |mut d| d.next().is_none());
        if !(empty && (gone || (mine && closing))) {
            return;
        }
        let Some(instance) = dir.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        remove_cgroup_parents(instance);
        if mine {
            self.images.release().await;
        } else {
            self.images.release_dead(instance).await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Engine for CrunEngine {
    fn name(&self) -> &'static str {
        "crun"
    }

    fn start<'a>(
        &'a self,
        plan: &'a Plan<'a>,
        budget: Budget,
    ) -> BoxFuture<'a, Result<Launched, SandboxError>> {
        Box::pin(self.launch(plan, budget))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.remove_container(name))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, Labels)>, String>> {
        Box::pin(async move { Ok(self.containers()) })
    }

    fn tidy(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for dir in instance_dirs(&self.base) {
                if dir != self.dir() {
                    self.tidy_instance(&dir, false).await;
                }
            }
            // Image binds of an instance whose directory is gone already.
            for roots in instance_dirs(Path::new(images::ROOTS)) {
                let Some(instance) = roots.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if instance != self.instance && !self.base.join(instance).exists() {
                    self.images.release_dead(instance).await;
                }
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.tidy_instance(&self.dir(), true).await;
            // Binds made after the last container went (none expected).
            self.images.release().await;
        })
    }
}

/// An instance name fit to name directories: letters, digits, `-`, `_`, `.`,
/// not starting with a dot.
pub fn check_instance(instance: &str) -> Result<(), String> {
    let fits = !instance.is_empty()
        && !instance.starts_with('.')
        && instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if fits {
        Ok(())
    } else {
        Err(format!(
            "instance name {instance:?} does not fit a directory name"
        ))
    }
}

/// Every instance directory under `base`.
fn instance_dirs(base: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(base)
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// `/whipcode/<instance>` in every hierarchy (and `/whipcode` when it is
/// left empty); a cgroup still holding a container stays.
fn remove_cgroup_parents(instance: &str) {
    let root = Path::new("/sys/fs/cgroup");
    let hierarchies = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for hierarchy in std::iter::once(root.to_owned()).chain(hierarchies) {
        let _ = std::fs::remove_dir(hierarchy.join("whipcode").join(instance));
        let _ = std::fs::remove_dir(hierarchy.join("whipcode"));
    }
}

/// A `crun run`'s status as the container's exit code: crun exits with the
/// container's code (128 + n for a signal); crun itself killed by signal n
/// counts as 128 + n.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

async fn wait_exit(mut exit: Exit, patience: Duration) -> Option<i32> {
    tokio::time::timeout(patience, exit.wait_for(Option::is_some))
        .await
        .ok()?
        .ok()
        .and_then(|code| *code)
}

/// Copies the runner's events (stdout) to `events` and keeps the start of
/// stderr (crun's or the runner's messages), until both pipes end or the
/// container goes over its budget (then `events` ends too).
async fn pipes(
    mut stdout: ChildStdout,
    mut stderr_pipe: ChildStderr,
    events: DuplexStream,
    budget: Budget,
) -> Demuxed {
    let mut events = Some(events);
    let mut stderr = Vec::new();
    let mut sent = 0u64;
    let (mut out, mut err) = (vec![0u8; 64 * 1024], vec![0u8; 8 * 1024]);
    let mut err_open = true;
    while events.is_some() || err_open {
        let n = tokio::select! {
            read = stdout.read(&mut out), if events.is_some() => match read {
                Ok(n) if n > 0 => {
                    let written = match events.as_mut() {
                        Some(e) => e.write_all(&out[..n]).await.is_ok(),
                        None => false,
                    };
                    if !written {
                        events = None;
                    }
                    n
                }
                _ => {
                    events = None;
                    0
                }
            },
            read = stderr_pipe.read(&mut err), if err_open => match read {
                Ok(n) if n > 0 => {
                    let room = STDERR_CAP.saturating_sub(stderr.len());
                    stderr.extend_from_slice(&err[..n.min(room)]);
                    n
                }
                _ => {
                    err_open = false;
                    0
                }
            },
        };
        sent += n as u64;
        if sent > budget.bytes {
            return Demuxed {
                stderr,
                over_budget: Some(budget.over()),
            };
        }
    }
    Demuxed {
        stderr,
        over_budget: None,
    }
}
