//! What the sandbox takes and gives back: one job, its outcome, the error
//! enum callers match on, and the [`Sandbox`] trait the HTTP layer sees.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::error::EngineError;
use super::output::Captured;
use super::policy::Limits;

/// One job: what to write, what to run, with what input and limits.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Full image reference (`localhost/...`); never pulled.
    pub image: String,
    /// Files written into the working directory: (relative path in normal
    /// form, see [`whipcode_runner::normalize_path`], content).
    /// The bytes are shared, never copied on their way to the runner.
    pub files: Vec<(String, Bytes)>,
    /// Stages run in order (compile, run); one that fails ends the job.
    pub stages: Vec<StageSpec>,
    /// The complete environment of every step.
    pub env: Vec<(String, String)>,
    pub stdin: Bytes,
    /// The container's limits; a stage may ask for less memory.
    pub limits: Limits,
}

/// One stage of a job and its own limits.
#[derive(Debug, Clone, Default)]
pub struct StageSpec {
    /// `compile` or `run`.
    pub name: String,
    /// argv lists run in order.
    pub steps: Vec<Vec<String>>,
    /// Wall-clock limit, counted from the stage's start.
    pub timeout: Duration,
    /// CPU time of the whole container during this stage (watched on its
    /// cgroup, to within ~50 ms); `None`: only the per-process rlimit.
    pub cpu_time: Option<Duration>,
    /// Memory for this stage, at most the container's; `None`: the container's.
    pub memory_mb: Option<u64>,
    /// Its last step reads the job's stdin. When no stage of a job says so,
    /// the last stage does.
    pub stdin: bool,
    /// Starts with the working directory as it was when the first such
    /// stage of the job started, every process of an earlier stage ended
    /// (several runs after one compile, none leaving work for the next).
    pub fresh_workdir: bool,
    /// Largest file its steps may write (`RLIMIT_FSIZE`), in bytes.
    pub file_size: Option<u64>,
    /// Its steps' stack size (`RLIMIT_STACK`), in bytes.
    pub stack: Option<u64>,
    /// Its steps write stderr into stdout's pipe (the order kept; all of
    /// it reported as stdout).
    pub stderr_to_stdout: bool,
}

/// How one stage went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOutcome {
    pub name: String,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Both streams interleaved in arrival order (the same chunks, shared).
    pub output: Captured,
    /// Exit code of the stage's last step that ran, if it exited normally.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Its wall-clock or CPU-time limit ended it.
    pub timed_out: bool,
    /// Its CPU-time limit, specifically.
    pub cpu_limited: bool,
    /// An output stream reached its byte cap in this stage.
    pub truncated: bool,
    /// Which: `"stdout"` or `"stderr"`.
    pub truncated_stream: Option<&'static str>,
    pub wall_time: Duration,
    /// The container's CPU time during the stage, from its cgroup.
    pub cpu_time: Option<Duration>,
    /// The container's peak memory during the stage, from its cgroup (on
    /// cgroup v2 before Linux 6.12, the peak since the container started).
    pub memory_peak: Option<u64>,
}

/// What a run produced. Output is capped; see `truncated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Every stage's output, in order (what the original reported).
    pub stdout: Captured,
    pub stderr: Captured,
    /// The stages that started, in order.
    pub stages: Vec<StageOutcome>,
    /// Exit code of the last step that ran; `None` if killed or timed out.
    pub exit_code: Option<i32>,
    /// Signal that ended the program, if any.
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// An output stream reached its byte cap and the run was stopped.
    pub truncated: bool,
    /// How long the run waited for a container slot.
    pub queue_wait: Duration,
    /// From handing the job to the container's runner to the runner's report
    /// of the program's end (or the deadline, or the output cap).
    pub container_age: Duration,
    /// CPU time of the run: the container's, from its cgroup (every process,
    /// detached ones included), or the runner's count where the cgroup
    /// could not be read (see `cpu_time_from_runner`).
    pub cpu_time: Option<Duration>,
    /// `cpu_time` is the runner's figure (the cgroup's was not available).
    pub cpu_time_from_runner: bool,
    /// Highest memory use of the container, from its cgroup (kernel-accounted).
    pub memory_peak: Option<u64>,
    /// The kernel's OOM killer ended a process of this run.
    pub oom_killed: bool,
    /// Set when the container broke the runner's channel after the program
    /// started (malformed frames, or more than its budget): why.
    pub channel_error: Option<String>,
    /// The container's unique name, for logs.
    pub container: String,
}

/// Why a run could not produce an outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// Every container slot is taken and the waiting queue is full.
    #[error("all {limit} container slots are busy and the queue is full")]
    Busy { limit: usize },
    /// The language's image is not installed.
    #[error("image {image} is not installed")]
    ImageMissing { image: String },
    /// The engine (crun or podman) failed before the program started.
    #[error("container engine: {0}")]
    Engine(#[from] crate::error::EngineError),
    /// The runner refused the job or broke the protocol: its own words
    /// (they come from another process; no error of ours lies beneath).
    #[error("runner: {0}")]
    Runner(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A project image present on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledImage {
    /// Full reference, e.g. `localhost/whipcode-python:latest`.
    pub reference: String,
    /// The toolchain version recorded when it was built, if any.
    pub version: Option<String>,
}

/// What a client sends to an interactive run while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for the program's stdin (held until the program starts).
    Stdin(Vec<u8>),
    /// The program's stdin ends.
    EndOfStdin,
    /// A signal for the running step's processes.
    Signal(i32),
}

/// What an interactive run reports as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// Stage `name` started.
    Stage(String),
    Stdout(bytes::Bytes),
    Stderr(bytes::Bytes),
    /// The stage under way ended by itself (a stage a limit ends is reported
    /// by the run's outcome).
    StageEnd {
        name: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// The two ends of an interactive run, given by its caller. Both are
/// bounded: a caller that stops taking events stops the run's output (and
/// its deadline still runs).
pub struct Interaction {
    pub input: tokio::sync::mpsc::Receiver<Input>,
    pub events: tokio::sync::mpsc::Sender<LiveEvent>,
}

/// Something that runs jobs in isolation. The HTTP layer only sees this.
pub trait Sandbox: Send + Sync + 'static {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>>;

    /// Runs `spec` with its stdin, signals and output live through
    /// `interaction` (the spec's own `stdin` is not used). Dropping the
    /// future ends the run and removes its container.
    fn run_interactive(
        &self,
        spec: RunSpec,
        interaction: Interaction,
    ) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        let _ = (spec, interaction);
        Box::pin(async {
            Err(SandboxError::Engine(EngineError::failed(
                "this sandbox has no interactive runs",
            )))
        })
    }

    /// The project's images installed right now; an error when the engine
    /// cannot be reached.
    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>>;

    /// Its counters and load right now (for the service's metrics); a
    /// sandbox that counts nothing reports zeros.
    fn stats(&self) -> super::stats::SandboxStats {
        super::stats::SandboxStats::default()
    }
}

/// The conventional name of a Linux signal number, e.g. 9 → `SIGKILL`;
/// real-time signals as `SIGRTMIN+n`.
pub fn signal_name(signal: i32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    /// glibc's SIGRTMIN (the kernel's 32 and 33 are taken by the C library).
    const RTMIN: i32 = 34;
    match signal {
        1..=31 => NAMES[(signal - 1) as usize].to_owned(),
        RTMIN..=64 => format!("SIGRTMIN+{}", signal - RTMIN),
        other => format!("SIG{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_linux_signal_has_its_name() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(26), "SIGVTALRM");
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(34), "SIGRTMIN+0");
        assert_eq!(signal_name(64), "SIGRTMIN+30");
        assert_eq!(signal_name(99), "SIG99");
    }
}
