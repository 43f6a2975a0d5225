//! Running one job in one fresh container. Knows nothing of HTTP.
//!
//! One run reads top to bottom: [`gate`] (a slot) → [`pool`] (a warm
//! container) or [`launch`] (a new one) → [`events`] (the runner's frames,
//! capped) → [`cgroup`] (the kernel's figures) → [`registry`] (removal).
//!
//! - [`job`]: the job, its outcome, [`SandboxError`] and the [`Sandbox`] trait.
//! - [`lifecycle`]: the sandbox started from its [`Settings`] and shut down with a deadline.
//! - [`run`]: [`ContainerSandbox`], one run from slot to outcome.
//! - [`drive`]: one job handed to a started container and its outcome gathered.
//! - [`stage_limits`]: a stage's limits set on the cgroup before its go-ahead.
//! - [`policy`]: the container's security policy, as podman's create spec, in one place
//!   (the crun engine's OCI configuration, [`crun::oci`], follows it field by field).
//! - [`seccomp`]: the project's seccomp profile: which system calls a run may make.
//! - [`error`]: what went wrong beneath a run (an engine, a host command), each with its cause.
//! - [`engine`]: the seam to what starts containers: [`crun`] (the default) or [`podman`].
//! - [`crun`]: the crun engine: `crun run` as this process's child, on image roots podman mounts.
//! - [`launch`]: naming and starting one container of a kind on the engine.
//! - [`pool`]: warm single-use containers started ahead on top of the launcher, sized by demand.
//! - [`events`]: reading the runner's event frames into an outcome, within the byte cap.
//! - [`gate`]: the bound on live containers and on requests waiting for one.
//! - [`idrange`]: host id ranges, one per live container host-wide.
//! - [`report`]: the policy one run gets as one value (`--print-policy`).
//! - [`registry`]: the live containers of this process; removal and sweeps.
//! - [`container`]: a live container that is killed and removed on every path.
//! - [`owner`]: the server process that owns a container, and whether it still runs.
//! - [`output`]: captured output, kept as the chunks that arrived, capped.
//! - [`stats`]: what the sandbox counts about itself, for the service's metrics.
//! - [`cgroup`]: a container's peak memory and OOM kills, read from the host's cgroup files.
//! - [`podman`]: podman's configuration, its REST client and service, its engine, and its CLI (image builds).

pub mod cgroup;
pub mod container;
pub mod crun;
pub mod drive;
pub mod engine;
pub mod error;
pub mod events;
pub mod gate;
pub mod idrange;
pub mod job;
pub mod launch;
pub mod lifecycle;
pub mod naming;
pub mod output;
pub mod owner;
pub mod podman;
pub mod policy;
pub mod pool;
pub mod registry;
pub mod report;
pub mod run;
pub mod seccomp;
pub mod stage_limits;
pub mod stats;

pub use bytes::Bytes;
pub use engine::EngineChoice;
pub use error::{CommandError, EngineError};
pub use job::{
    signal_name, BoxFuture, Input, InstalledImage, Interaction, LiveEvent, RunOutcome, RunSpec,
    Sandbox, SandboxError, StageOutcome, StageSpec,
};
pub use lifecycle::{start, SandboxHandle, Settings};
pub use output::Captured;
pub use policy::{LimitOverrides, Limits, UserNamespace, MEMORY_FLOOR_MB};
pub use report::{policy_report, PolicyReport};
pub use run::ContainerSandbox;
pub use stats::SandboxStats;
