//! The seam between a run and what starts its container. An [`Engine`]
//! starts a container from a [`Plan`] (the policy made concrete for one
//! container), hands back its stdio, its exit and where its cgroup is, and
//! lists and removes containers (every one names its owner in its labels,
//! so any instance's sweep can tell a dead server's leftovers).
//!
//! Two engines implement it: [`super::crun::CrunEngine`] (the default:
//! `crun run` as this process's child, no service on the run path) and
//! [`super::podman::engine::PodmanEngine`] (podman's REST service, conmon
//! and runc). Everything above it — the launcher, the pool, a run's drive,
//! the registry — is the same for both.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncWrite, DuplexStream};

use super::cgroup::Cgroup;
use super::error::EngineError;
use super::job::{BoxFuture, SandboxError};
use super::policy::Plan;

/// A container's labels (podman's labels, crun's annotations).
pub type Labels = HashMap<String, String>;

/// How a container exited, asked for once its stream ended without the
/// runner's report: its exit code (128 + n for signal n) when it has exited
/// within the patience given, `None` otherwise.
pub type ExitProbe = Box<dyn FnOnce(Duration) -> BoxFuture<'static, Option<i32>> + Send>;

/// A started container whose runner waits for its one job on stdin.
pub struct Launched {
    /// Where its cgroup is (the kernel's figures, a stage's limits).
    pub cgroup: Option<Cgroup>,
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    /// The runner's events (its stdout), within the container's [`Budget`].
    pub events: DuplexStream,
    /// Copies the container's output; ends with it, or at the budget.
    pub demux: tokio::task::JoinHandle<Demuxed>,
    pub exit: ExitProbe,
}

/// What a container may send back over its whole life, whatever runs
/// inside: bytes (podman's frame headers, empty frames and stderr included)
/// and podman's frames. Well above what the output caps let through.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub bytes: u64,
    pub frames: u64,
}

impl Budget {
    pub fn for_output_limit(limit: usize) -> Budget {
        let limit = limit as u64;
        Budget {
            bytes: limit.saturating_mul(4).saturating_add(1024 * 1024),
            frames: super::events::max_events(limit as usize) as u64 + 4096,
        }
    }

    pub fn over(&self) -> String {
        format!(
            "the container sent more than {} bytes or {} frames",
            self.bytes, self.frames
        )
    }
}

/// How a container's output ended.
#[derive(Debug, Default)]
pub struct Demuxed {
    /// The start of what came on stderr (the engine's or the runner's messages).
    pub stderr: Vec<u8>,
    /// Set when the container went over its [`Budget`]: reading stopped.
    pub over_budget: Option<String>,
}

/// Bytes of a container's own stderr kept.
pub const STDERR_CAP: usize = 16 * 1024;
/// Runner events buffered between the container and their reader.
pub const EVENT_BUFFER: usize = 256 * 1024;

/// Which engine starts the containers (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// crun directly, where this host allows it (else podman, with the reason logged).
    Crun,
    /// podman's REST service.
    Podman,
}

/// Starts, lists and removes containers.
pub trait Engine: Send + Sync + 'static {
    /// `crun` or `podman`, as the logs and metrics name it.
    fn name(&self) -> &'static str;

    /// Creates and starts the container `plan` describes; on failure nothing
    /// of it is left but what [`Engine::remove`] removes by its name.
    fn start<'a>(
        &'a self,
        plan: &'a Plan<'a>,
        budget: Budget,
    ) -> BoxFuture<'a, Result<Launched, SandboxError>>;

    /// Kills and removes the container `name`, wherever it is in its life;
    /// one that does not exist counts as removed.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), EngineError>>;

    /// Every container of the project on this host, of any instance, with
    /// its labels.
    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, Labels)>, EngineError>>;

    /// After a sweep: removes what dead instances left besides containers
    /// (state directories, cgroup parents, mounts). Nothing by default.
    fn tidy(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// At shutdown, after every container of this instance is removed:
    /// gives back what the engine holds host-wide. Nothing by default.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
