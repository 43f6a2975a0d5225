//! Naming and starting one container of a kind (image and limits) on the
//! engine. Its runner (PID 1) then waits for one job on stdin; its events
//! come back on stdout. On any failure the container is removed (it is a
//! [`LiveContainer`] from before it is created).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, DuplexStream};
use tokio::sync::OwnedSemaphorePermit;

use super::cgroup::Cgroup;
use super::container::LiveContainer;
use super::engine::{Budget, Demuxed, Engine, ExitProbe, Launched};
use super::error::EngineError;
use super::job::{BoxFuture, SandboxError};
use super::policy::{Limits, Plan, UserNamespace};
use super::registry::Registry;
use super::stats::Counters;
use crate::naming::container_name;

/// Longest an engine may take to start a container (slow under load).
pub const START_DEADLINE: Duration = Duration::from_secs(60);

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
    pub cgroup: Option<Cgroup>,
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    /// The runner's event stream (its stdout).
    pub events: DuplexStream,
    /// Copies the container's output; ends with it, or at the budget.
    pub demux: tokio::task::JoinHandle<Demuxed>,
    /// How it exited, when its stream ended without the runner's report.
    pub exit: ExitProbe,
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

/// Starts the containers of this instance with the policy, on its engine.
pub struct Launcher {
    engine: Arc<dyn Engine>,
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
        engine: Arc<dyn Engine>,
        registry: Registry,
        runner: PathBuf,
        seccomp: PathBuf,
        userns: UserNamespace,
        budget: Budget,
    ) -> Launcher {
        Launcher {
            budget,
            engine,
            owner: registry.owner_labels(),
            registry,
            runner,
            seccomp,
            userns,
        }
    }

    /// Starts a container; the engine's failures (not a missing image,
    /// which is the caller's to report) are counted and logged.
    async fn start(
        &self,
        kind: &ContainerKind,
        permit: OwnedSemaphorePermit,
    ) -> Result<Started, SandboxError> {
        let started = self.name_and_start(kind, permit).await;
        if let Err(SandboxError::Engine(e)) = &started {
            tracing::error!(engine = self.engine.name(), image = %kind.image, error = %e, "a container did not start");
            Counters::bump(&self.registry.counters().create_failures);
        }
        started
    }

    async fn name_and_start(
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
        let plan = Plan {
            name: &name,
            instance: self.registry.instance(),
            image: &kind.image,
            runner: &self.runner,
            seccomp: &self.seccomp,
            owner: &self.owner,
            userns: self.userns,
            host_ids,
            limits: kind.limits,
        };
        let launched = tokio::time::timeout(START_DEADLINE, self.engine.start(&plan, self.budget))
            .await
            .map_err(|_| {
                EngineError::failed(format!("no container within {START_DEADLINE:?}"))
            })??;
        let Launched {
            cgroup,
            stdin,
            events,
            demux,
            exit,
        } = launched;
        Ok(Started {
            container,
            cgroup,
            stdin,
            events,
            demux,
            exit,
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
            .map_err(EngineError::from)?
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
