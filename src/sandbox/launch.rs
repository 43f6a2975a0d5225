//! Creating, naming, attaching to and starting one container of a kind
//! (image and limits). Its runner (PID 1) then waits for one job on stdin;
//! its events come back on stdout, inside podman's multiplexed attach
//! stream, split off here. On any failure the container is removed (it is a
//! [`LiveContainer`] from before it is created).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;

use super::container::LiveContainer;
use super::job::{BoxFuture, SandboxError};
use super::podman::api::{read_frame, AttachStream, Frame, PodmanApi, PodmanError};
use super::policy::{self, Limits, Plan, UserNamespace};
use super::registry::Registry;
use super::stats::Counters;
use crate::naming::container_name;

/// Longest podman may take to create or start a container (slow under load).
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// Bytes of the container's own stderr (podman's or the runner's messages) kept.
const STDERR_CAP: usize = 16 * 1024;
/// Runner events buffered between the attach stream and their reader.
const EVENT_BUFFER: usize = 256 * 1024;

/// What makes two containers interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerKind {
    pub image: String,
    pub limits: Limits,
}

/// A started container, as the pool keeps it until a run takes it.
pub trait Warm: Send + 'static {
    /// Still usable (its stream is open).
    fn is_alive(&self) -> bool;
    /// Removes it unused.
    fn discard(self);
}

/// Something that starts containers; the pool runs on top of it.
pub trait Launch: Send + Sync + 'static {
    type Started: Warm;
    /// Starts one container of `kind`, holding `permit` until it is removed.
    fn launch(
        &self,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> BoxFuture<'_, Result<Self::Started, SandboxError>>;
}

/// A started container whose runner waits for its one job on stdin.
pub struct Started {
    pub container: LiveContainer,
    /// podman's full id (the cgroup is named after it).
    pub id: String,
    pub stdin: WriteHalf<AttachStream>,
    /// The runner's event stream (stdout of the attach stream).
    pub events: DuplexStream,
    /// Splits the attach stream; ends with it, or at the budget.
    pub demux: tokio::task::JoinHandle<Demuxed>,
}

/// What a container may send back over its whole attach stream, whatever
/// runs inside: bytes (frame headers, empty frames and podman's stderr
/// included) and frames. Well above what the output caps let through.
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
}

/// How an attach stream ended.
#[derive(Debug, Default)]
pub struct Demuxed {
    /// The start of what came on stderr (podman's or the runner's messages).
    pub stderr: Vec<u8>,
    /// Set when the container went over its [`Budget`]: reading stopped.
    pub over_budget: Option<String>,
}

impl Warm for Started {
    fn is_alive(&self) -> bool {
        !self.demux.is_finished()
    }

    fn discard(self) {
        self.demux.abort();
        self.container.end();
    }
}

/// Starts the containers of this instance with the policy.
pub struct Launcher {
    api: PodmanApi,
    registry: Registry,
    /// The sealed copy of the runner (see [`super::lifecycle`]).
    runner: PathBuf,
    /// The seccomp profile's file.
    seccomp: PathBuf,
    owner: Vec<(&'static str, String)>,
    userns: UserNamespace,
    budget: Budget,
}

impl Launcher {
    pub fn new(
        api: PodmanApi,
        registry: Registry,
        runner: PathBuf,
        seccomp: PathBuf,
        userns: UserNamespace,
        budget: Budget,
    ) -> Launcher {
        Launcher {
            budget,
            api,
            owner: registry.owner_labels(),
            registry,
            runner,
            seccomp,
            userns,
        }
    }

    /// Creates, attaches to and starts a container; podman's failures
    /// (not a missing image, which is the caller's to report) are counted.
    async fn start(
        &self,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> Result<Started, SandboxError> {
        let started = self.create_and_start(kind, permit).await;
        if matches!(started, Err(SandboxError::Engine(_))) {
            Counters::bump(&self.registry.counters().create_failures);
        }
        started
    }

    async fn create_and_start(
        &self,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> Result<Started, SandboxError> {
        let name = container_name(self.registry.instance());
        let host_ids = match self.userns {
            UserNamespace::PerRun => self.registry.take_range().await?,
            _ => None,
        };
        let container = LiveContainer::new(self.registry.clone(), name.clone(), host_ids, permit);
        let spec = policy::container_spec(&Plan {
            name: &name,
            instance: self.registry.instance(),
            image: &kind.image,
            runner: &self.runner,
            seccomp: &self.seccomp,
            owner: &self.owner,
            userns: self.userns,
            host_ids,
            limits: kind.limits,
        });
        let id = self
            .api
            .create(&spec, START_DEADLINE)
            .await
            .map_err(|e| classify_create_failure(&kind.image, e))?;
        let stream = self
            .api
            .attach(&id, START_DEADLINE)
            .await
            .map_err(engine_error)?;
        self.api
            .start(&id, START_DEADLINE)
            .await
            .map_err(engine_error)?;
        let (read, stdin) = tokio::io::split(stream);
        let (events_in, events) = tokio::io::duplex(EVENT_BUFFER);
        Ok(Started {
            container,
            id,
            stdin,
            events,
            demux: tokio::spawn(demux(read, events_in, self.budget)),
        })
    }

    /// A start in a task of its own: a cancelled request never leaves a
    /// container half-created (the task finishes, and dropping its result
    /// removes the container).
    pub async fn start_detached(
        self: &Arc<Self>,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> Result<Started, SandboxError> {
        let launcher = Arc::clone(self);
        let kind = kind.clone();
        tokio::spawn(async move { launcher.start(&kind, permit).await })
            .await
            .map_err(|e| SandboxError::Engine(format!("container start task failed: {e}")))?
    }

    /// Whether a container that ended without its runner's report was killed
    /// from outside: its exit code when it has stopped, `None` if it is still
    /// running after `patience` or podman cannot say.
    pub async fn exit_code(&self, id: &str, patience: Duration) -> Option<i32> {
        let give_up = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < give_up {
            let (running, code) = self.api.state(id, patience).await.ok()?;
            if !running {
                return code;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Launch for Launcher {
    type Started = Started;

    fn launch(
        &self,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> BoxFuture<'_, Result<Started, SandboxError>> {
        let kind = kind.clone();
        Box::pin(async move { self.start(&kind, permit).await })
    }
}

/// Copies the runner's events (stream 1) to `events` and keeps the start of
/// stream 2; ends with the attach stream, or when the container goes over
/// its budget (then `events` ends too).
async fn demux(
    mut attach: ReadHalf<AttachStream>,
    mut events: DuplexStream,
    budget: Budget,
) -> Demuxed {
    let mut stderr = Vec::new();
    let (mut bytes, mut frames) = (0u64, 0u64);
    while let Ok(Some(frame)) = read_frame(&mut attach).await {
        frames += 1;
        bytes += 8 + frame.len() as u64;
        if bytes > budget.bytes || frames > budget.frames {
            let over_budget = Some(format!(
                "the container sent more than {} bytes or {} frames",
                budget.bytes, budget.frames
            ));
            return Demuxed {
                stderr,
                over_budget,
            };
        }
        match frame {
            Frame::Stdout(bytes) => {
                if events.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            Frame::Stderr(bytes) => {
                let room = STDERR_CAP.saturating_sub(stderr.len());
                stderr.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        }
    }
    Demuxed {
        stderr,
        over_budget: None,
    }
}

fn engine_error(e: PodmanError) -> SandboxError {
    SandboxError::Engine(e.to_string())
}

fn classify_create_failure(image: &str, e: PodmanError) -> SandboxError {
    let message = e.message().unwrap_or_default();
    if e.is_not_found() || message.contains("image not known") || message.contains("no such image")
    {
        return SandboxError::ImageMissing {
            image: image.to_owned(),
        };
    }
    engine_error(e)
}
