//! The crun engine: each container is `crun run` in the foreground as this
//! process's child, its stdio pipes this process holds, its exit status the
//! container's. No service, conmon or exit command on the run path; podman
//! keeps the images ([`images`]).
//!
//! On the host, one directory per instance under [`BASE`] ([`dirs`]): its
//! owner, crun's state root and one bundle per container. A container's
//! cgroup is `/whipcode/<instance>/<name>` in every hierarchy, so its
//! figures are read from a known place.
//!
//! - [`oci`]: the OCI configuration written for each container, from the one policy.
//! - [`bpf`]: the seccomp profile compiled once, handed to crun precompiled.
//! - [`images`]: image roots, mounted once by podman and shared read-only.
//! - [`child`]: one `crun run` child: its pipes, its exit, killing it.
//! - [`command`]: short external commands (crun, podman, mount), each with a deadline.
//! - [`dirs`]: the instance directories, their owners and what they hold.
//! - [`host`]: whether this host can run crun, and what to do when it cannot.

pub mod bpf;
pub mod child;
pub mod command;
pub mod dirs;
pub mod host;
pub mod images;
pub mod oci;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::cgroup::Layout;
use super::engine::{Budget, Engine, Labels, Launched, EVENT_BUFFER};
use super::error::EngineError;
use super::job::{BoxFuture, SandboxError};
use super::policy::{self, Plan};
use dirs::InstanceDir;
use images::ImageRoots;

/// Host-wide: every whipcode instance keeps its crun state under here.
pub const BASE: &str = "/run/whipcode/crun";
/// How long a killed container gets to be reaped by its `crun run`.
const KILL_PATIENCE: Duration = Duration::from_secs(10);
/// How long a removal waits for a container that ended by itself to be
/// reaped before it kills it.
const REAP_PAUSE: Duration = Duration::from_millis(100);
/// How long one crun command (kill, delete) may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

pub struct CrunEngine {
    crun: PathBuf,
    base: PathBuf,
    instance: String,
    /// This instance's directory, locked while this process lives.
    dir: InstanceDir,
    layout: Layout,
    images: ImageRoots,
    /// The project's seccomp profile in OCI form, made once.
    seccomp: Value,
    /// The same, compiled to BPF once (base64), when libseccomp could.
    seccomp_bpf: Option<String>,
    /// The `crun run` children of this process, by container name.
    children: Mutex<HashMap<String, child::Handle>>,
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
        let dir = InstanceDir::create(base, instance)?;
        let seccomp = oci::seccomp(&super::seccomp::profile());
        Ok(CrunEngine {
            crun,
            base: base.to_owned(),
            instance: instance.to_owned(),
            dir,
            layout,
            images,
            seccomp_bpf: precompiled(&seccomp),
            seccomp,
            children: Mutex::new(HashMap::new()),
        })
    }

    /// Before the first run: what a predecessor of the same instance name
    /// left bound (a server killed with `kill -9` and started again).
    pub async fn prepare(&self) {
        self.images.release().await;
    }

    fn dir(&self) -> PathBuf {
        self.dir.path.clone()
    }

    /// Where container `name` of `instance` has its cgroup, in every hierarchy.
    pub fn cgroup_path(instance: &str, name: &str) -> String {
        format!("/whipcode/{instance}/{name}")
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, child::Handle>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn launch(&self, plan: &Plan<'_>, budget: Budget) -> Result<Launched, SandboxError> {
        let rootfs = self.images.root(plan.image).await?;
        let cgroup = Self::cgroup_path(plan.instance, plan.name);
        let bundle = self.dir().join("bundles").join(plan.name);
        let config = oci::config(
            plan,
            &oci::Placement {
                rootfs: &rootfs,
                cgroup: &cgroup,
                seccomp: &self.seccomp,
                cgroupns: matches!(self.layout, Layout::V2(_)),
                seccomp_bpf: self.seccomp_bpf.as_deref(),
            },
        );
        let labels = Value::Object(policy::labels(plan));
        tokio::fs::create_dir(&bundle)
            .await
            .map_err(EngineError::io("making the bundle directory"))?;
        tokio::fs::write(bundle.join("labels.json"), labels.to_string())
            .await
            .map_err(EngineError::io("writing labels.json"))?;
        tokio::fs::write(bundle.join("config.json"), config.to_string())
            .await
            .map_err(EngineError::io("writing config.json"))?;
        let mut command = Command::new(&self.crun);
        command
            .arg("--root")
            .arg(self.dir().join("state"))
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(plan.name);
        let (pipes, handle) =
            child::spawn(command).map_err(EngineError::io("starting crun run"))?;
        self.children().insert(plan.name.to_owned(), handle.clone());
        let (events_in, events) = tokio::io::duplex(EVENT_BUFFER);
        Ok(Launched {
            cgroup: Some(self.layout.at(&cgroup)),
            stdin: Box::pin(pipes.stdin),
            events,
            demux: tokio::spawn(child::read_pipes(
                pipes.stdout,
                pipes.stderr,
                events_in,
                budget,
            )),
            exit: Box::new(move |patience| Box::pin(handle.exit_code(patience))),
        })
    }

    /// Kills the container, waits for its `crun run` to reap it (or kills
    /// that too), deletes whatever crun left, and removes its bundle. An
    /// error while a `crun run` of this process may still start it, so its
    /// id range and slot stay held and the removal is tried again.
    async fn remove_container(&self, name: &str) -> Result<(), EngineError> {
        let Some(dir) = self.dir_of(name) else {
            return Ok(());
        };
        let state = dir.join("state");
        let ours = self.children().get(name).cloned();
        match ours {
            Some(handle) => self.reap(&state, name, handle).await?,
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
                return Err(match deleted {
                    Err(e) => e,
                    Ok(()) => {
                        EngineError::failed(format!("crun delete --force {name} left its state"))
                    }
                });
            }
        }
        match tokio::fs::remove_dir_all(dir.join("bundles").join(name)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(EngineError::io(format!("removing the bundle of {name}"))(e))
            }
            _ => {}
        }
        self.children().remove(name);
        Ok(())
    }

    /// Until this process's `crun run` of `name` has exited: the container
    /// killed through crun, then, past [`KILL_PATIENCE`], `crun run` itself.
    async fn reap(
        &self,
        state: &Path,
        name: &str,
        mut handle: child::Handle,
    ) -> Result<(), EngineError> {
        // A run that ended by itself: its `crun run` exits as its output
        // ends, so no `crun kill` is needed (it would cost a process).
        if handle.exited_within(REAP_PAUSE).await {
            return Ok(());
        }
        let give_up = tokio::time::Instant::now() + KILL_PATIENCE;
        while !handle.has_exited() && tokio::time::Instant::now() < give_up {
            let _ = self.crun(state, &["kill", name, "KILL"]).await;
            handle.exited_within(Duration::from_millis(500)).await;
        }
        if handle.has_exited() {
            return Ok(());
        }
        handle.kill();
        if !handle.exited_within(Duration::from_secs(5)).await {
            return Err(EngineError::failed(format!(
                "crun run of {name} did not exit after SIGKILL"
            )));
        }
        // crun may have let the container go before it wrote its state (so
        // `crun delete` would not find it): whatever is in its cgroup is
        // killed here.
        let cgroup = self.layout.at(&Self::cgroup_path(&self.instance, name));
        for _ in 0..50 {
            let left = cgroup.procs();
            if left.is_empty() {
                return Ok(());
            }
            for pid in left.into_iter().filter_map(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(EngineError::failed(format!(
            "processes of {name} outlived SIGKILL"
        )))
    }

    /// The instance directory holding container `name`, if any does.
    fn dir_of(&self, name: &str) -> Option<PathBuf> {
        if name.contains('/') || name.starts_with('.') {
            return None;
        }
        let own = self.dir();
        std::iter::once(own)
            .chain(dirs::instance_dirs(&self.base))
            .find(|dir| {
                dir.join("bundles").join(name).exists() || dir.join("state").join(name).exists()
            })
    }

    /// One crun command on state root `state`; crun's message when it fails.
    async fn crun(&self, state: &Path, args: &[&str]) -> Result<(), EngineError> {
        let mut crun = Command::new(&self.crun);
        crun.arg("--root").arg(state).args(args);
        Ok(command::output_within(crun, COMMAND_DEADLINE)
            .await
            .map(drop)?)
    }

    /// Removes a dead instance's directory, image binds and cgroup parents
    /// once it holds no container, holding its lock meanwhile.
    async fn tidy_abandoned(&self, dir: &Path) {
        let Some(held) = dirs::claim_abandoned(dir) else {
            return;
        };
        let Some(instance) = dir.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        if !dirs::is_empty(dir) {
            return;
        }
        dirs::remove_cgroup_parents(Path::new(host::CGROUP_ROOT), instance);
        self.images.release_dead(instance).await;
        dirs::remove_abandoned(dir, &held);
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

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(self.remove_container(name))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, Labels)>, EngineError>> {
        let base = self.base.clone();
        Box::pin(async move {
            // Directory reads: off the runtime's threads.
            Ok(tokio::task::spawn_blocking(move || dirs::containers(&base)).await?)
        })
    }

    fn tidy(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for dir in dirs::instance_dirs(&self.base) {
                if dir != self.dir() {
                    self.tidy_abandoned(&dir).await;
                }
            }
            // Image binds of an instance whose directory is gone already.
            for roots in dirs::instance_dirs(Path::new(images::ROOTS)) {
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
            self.images.release().await;
            if dirs::is_empty(&self.dir()) {
                dirs::remove_cgroup_parents(Path::new(host::CGROUP_ROOT), &self.instance);
                let _ = std::fs::remove_dir_all(self.dir());
            }
        })
    }
}

/// The profile compiled once, base64; `None` (crun then compiles it at
/// each start, slower but the same filter) when libseccomp cannot.
fn precompiled(seccomp: &Value) -> Option<String> {
    use base64::Engine as _;
    match bpf::compile(seccomp) {
        Ok(program) => Some(base64::engine::general_purpose::STANDARD.encode(program)),
        Err(e) => {
            tracing::warn!(error = %e, "the seccomp profile could not be compiled once; crun compiles it at each start");
            None
        }
    }
}

/// An instance name that cannot name a directory.
#[derive(Debug, thiserror::Error)]
#[error("instance name {0:?} does not fit a directory name")]
pub struct InvalidInstance(pub String);

/// An instance name fit to name directories: letters, digits, `-`, `_`, `.`,
/// not starting with a dot.
pub fn check_instance(instance: &str) -> Result<(), InvalidInstance> {
    let fits = !instance.is_empty()
        && !instance.starts_with('.')
        && instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if fits {
        Ok(())
    } else {
        Err(InvalidInstance(instance.to_owned()))
    }
}
