//! [`ContainerSandbox`]: one run from slot to outcome. A slot from the gate;
//! a warm container from the pool, or a new one from the launcher; the job
//! handed to its runner; the runner's events read within the byte cap; the
//! kernel's figures from the cgroup; the container handed to the registry
//! for removal. The answer is ready at the runner's exit frame, not when
//! the container is removed. Deadlines: one for podman to create and start
//! the container, then the program's own timeout counted from its start, so
//! time spent queueing or in podman never eats the program's time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use whipcode_runner::{Control, Job, Stage, StageOptions};

use super::cgroup::{self, Cgroup};
use super::error::EngineError;
use super::events::{collect, Collected, NotBegun, StageControl};
use super::gate::Gate;
use super::job::{
    BoxFuture, Input, InstalledImage, Interaction, RunOutcome, RunSpec, Sandbox, SandboxError,
    StageSpec,
};
use super::launch::{ContainerKind, Launcher, Started, START_DEADLINE};
use super::podman::api::PodmanApi;
use super::policy::WORKDIR;
use super::pool::Pool;
use super::stats::{Counters, SandboxStats};
use crate::naming::VERSION_LABEL;

/// How long podman gets to report how a container without a report ended.
const FAILURE_REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a container that reported its end gets to exit by itself
/// before it is killed and removed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long podman gets to list the images.
const LIST_DEADLINE: Duration = Duration::from_secs(10);

/// The [`Sandbox`] on podman; made by the lifecycle's `start`.
pub struct ContainerSandbox {
    pub(super) api: PodmanApi,
    pub(super) gate: Arc<Gate>,
    pub(super) launcher: Arc<Launcher>,
    pub(super) pool: Arc<Pool<Launcher>>,
    pub(super) output_limit: usize,
    pub(super) counters: Arc<Counters>,
}

/// How a hand-over ended: with an outcome, or before the program started
/// (so a warm container that had died can be replaced by a fresh one).
enum Driven {
    Done(Box<Result<RunOutcome, SandboxError>>),
    NeverStarted(SandboxError),
}

impl Driven {
    fn into_result(self) -> Result<RunOutcome, SandboxError> {
        match self {
            Driven::Done(result) => *result,
            Driven::NeverStarted(e) => Err(e),
        }
    }
}

impl ContainerSandbox {
    async fn run_job(
        &self,
        spec: RunSpec,
        mut interaction: Option<Interaction>,
    ) -> Result<RunOutcome, SandboxError> {
        let queued_at = Instant::now();
        let permit = self.gate.enter().await?;
        let queue_wait = queued_at.elapsed();
        let with_wait = |result: Result<RunOutcome, SandboxError>| {
            result.map(|outcome| RunOutcome {
                queue_wait,
                ..outcome
            })
        };
        let kind = ContainerKind {
            image: spec.image.clone(),
            limits: spec.limits,
        };
        let Some(mut warm) = self.pool.take(&kind) else {
            Counters::bump(&self.counters.pool_misses);
            let started = self.launcher.start_detached(&kind, permit).await?;
            return with_wait(
                self.drive(started, &spec, interaction.as_mut())
                    .await
                    .into_result(),
            );
        };
        Counters::bump(&self.counters.pool_hits);
        // The warm container trades the pool's slot for this run's; if it
        // died while waiting, the job goes to a fresh one.
        warm.container.replace_permit(permit);
        with_wait(match self.drive(warm, &spec, interaction.as_mut()).await {
            Driven::Done(result) => *result,
            Driven::NeverStarted(e) => {
                tracing::warn!(error = %e, "a warm container had died; starting a fresh one");
                let permit = self.gate.enter().await?;
                let started = self.launcher.start_detached(&kind, permit).await?;
                self.drive(started, &spec, interaction.as_mut())
                    .await
                    .into_result()
            }
        })
    }

    /// Hands the job to a started container and gathers its outcome; an
    /// interactive run's input goes to the runner while it runs.
    async fn drive(
        &self,
        started: Started,
        spec: &RunSpec,
        interaction: Option<&mut Interaction>,
    ) -> Driven {
        let Started {
            container,
            cgroup,
            mut stdin,
            mut events,
            demux,
            exit,
        } = started;
        let name = container.name().to_owned();
        let handed_at = Instant::now();
        // The job, then a go-ahead per stage; stdin stays open after them:
        // after its exit frame the runner waits for it to close, so that the
        // cgroup can still be read. Dropping `to_runner` closes it.
        // The client's input on its own bounded channel: a client that sends
        // faster than the container takes it waits (the go-aheads do not).
        let (to_runner, mut writes) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let (input_to_runner, mut input_writes) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        let _ = to_runner.send(job_bytes(spec, interaction.is_some()));
        tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    biased;
                    Some(bytes) = writes.recv() => bytes,
                    Some(bytes) = input_writes.recv() => bytes,
                    else => break,
                };
                if stdin.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = stdin.shutdown().await;
        });

        let mut control = StageLimits {
            cgroup,
            stages: &spec.stages,
            container_mb: spec.limits.memory_mb,
            to_runner,
        };
        let (mut input, live) = match interaction {
            Some(i) => (Some(&mut i.input), Some(&i.events)),
            None => (None, None),
        };
        // The client's input, forwarded for as long as the events are read.
        let forward = async {
            if let Some(input) = input.as_mut() {
                while let Some(next) = input.recv().await {
                    let control = match next {
                        Input::Stdin(bytes) => Control::Input(bytes),
                        Input::EndOfStdin => Control::InputEnd,
                        Input::Signal(n) => Control::Signal(n),
                    };
                    if input_to_runner.send(control.encode()).await.is_err() {
                        break;
                    }
                }
            }
            drop(input_to_runner);
            std::future::pending::<()>().await
        };
        let collected = tokio::select! {
            collected = collect(
                &mut events,
                START_DEADLINE,
                &spec.stages,
                self.output_limit,
                &mut control,
                live,
            ) => collected,
            () = forward => unreachable!("forwarding never ends by itself"),
        };
        let container_age = handed_at.elapsed();
        let mut outcome = RunOutcome {
            container: name.clone(),
            container_age,
            ..RunOutcome::default()
        };
        outcome.set_usage(
            control
                .cgroup
                .as_ref()
                .map(Cgroup::usage)
                .unwrap_or_default(),
        );
        drop(control);
        match collected {
            Collected::Exit(output, report) => {
                output.into_outcome(&mut outcome);
                outcome.exit_code = report.code;
                outcome.signal = report.signal;
                if outcome.cpu_time.is_none() {
                    outcome.cpu_time = Some(Duration::from_micros(report.cpu_micros));
                    outcome.cpu_time_from_runner = true;
                }
                // stdin is closed: the runner exits and the stream ends.
                container.end_after(
                    async move {
                        let _ = demux.await;
                    },
                    EXIT_GRACE,
                );
                return Driven::Done(Box::new(Ok(outcome)));
            }
            Collected::TimedOut(output) => {
                output.into_outcome(&mut outcome);
                outcome.timed_out = true;
            }
            Collected::Truncated(output) => {
                output.into_outcome(&mut outcome);
                outcome.truncated = true;
                outcome.signal = Some(9);
            }
            Collected::OverLimit(output) => {
                output.into_outcome(&mut outcome);
                outcome.signal = Some(9);
                outcome.oom_killed = true;
            }
            Collected::Ended(output) => {
                // The container ended without the runner's report: killed from
                // outside (the memory limit) or it never ran the job.
                let demuxed = tokio::time::timeout(FAILURE_REPORT_DEADLINE, demux)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let stderr = demuxed.stderr;
                if let (Some(reason), true) = (demuxed.over_budget, output.started) {
                    container.end();
                    output.into_outcome(&mut outcome);
                    return Driven::Done(Box::new(Ok(broke_the_channel(outcome, reason))));
                }
                if !output.started {
                    container.end();
                    return Driven::NeverStarted(SandboxError::Engine(EngineError::failed(
                        format!(
                            "container ended before the program started: {}",
                            String::from_utf8_lossy(&stderr).trim()
                        ),
                    )));
                }
                output.into_outcome(&mut outcome);
                match exit(FAILURE_REPORT_DEADLINE).await {
                    // The runner was killed by a signal: the kernel's (the
                    // memory limit, a CPU limit), since the program runs as
                    // another user without capabilities and cannot signal
                    // PID 1, nor change its limits.
                    Some(code) if code > 128 => outcome.signal = Some(code - 128),
                    // The runner ended by itself, so it wrote a report that
                    // never arrived, or it is still running: the stream broke
                    // (podman's service died mid-run). No answer is made up.
                    _ => {
                        container.end();
                        return Driven::Done(Box::new(Err(SandboxError::Engine(
                            EngineError::failed("lost the container's stream before its report"),
                        ))));
                    }
                }
            }
            Collected::Broken(output, reason) => {
                container.end();
                output.into_outcome(&mut outcome);
                return Driven::Done(Box::new(Ok(broke_the_channel(outcome, reason))));
            }
            Collected::Failed(reason) => {
                container.end();
                return Driven::Done(Box::new(Err(SandboxError::Runner(short(&reason)))));
            }
        }
        container.end();
        Driven::Done(Box::new(Ok(outcome)))
    }
}

impl Sandbox for ContainerSandbox {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(self.run_job(spec, None))
    }

    fn run_interactive(
        &self,
        spec: RunSpec,
        interaction: Interaction,
    ) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(self.run_job(spec, Some(interaction)))
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async move {
            let listed = self
                .api
                .project_images(LIST_DEADLINE)
                .await
                .map_err(EngineError::from)?;
            Ok(listed
                .into_iter()
                .map(|image| InstalledImage {
                    version: image.labels.get(VERSION_LABEL).cloned(),
                    reference: image.reference,
                })
                .collect())
        })
    }

    fn stats(&self) -> SandboxStats {
        SandboxStats {
            in_flight: self.gate.in_use(),
            waiting: self.gate.waiting(),
            slots: self.gate.limit(),
            warm: self.pool.warm_by_image(),
            ..SandboxStats::from_counters(&self.counters)
        }
    }
}

/// A run whose container broke the runner's channel after the program
/// started (malformed frames, over its budget): what was captured, the run
/// stopped, and the reason — the program's doing, so an answer, not a 5xx.
fn broke_the_channel(mut outcome: RunOutcome, reason: String) -> RunOutcome {
    let reason = short(&reason);
    tracing::warn!(container = %outcome.container, %reason, "a run broke the runner's channel");
    outcome.signal = Some(9);
    outcome.channel_error = Some(reason);
    outcome
}

/// A message from inside a container, as it may be shown and logged: at
/// most 200 characters, control characters escaped.
fn short(message: &str) -> String {
    let escaped: String = message.chars().flat_map(char::escape_debug).collect();
    match escaped.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// The job's frames; its files are copied once, straight into them.
fn job_bytes(spec: &RunSpec, interactive: bool) -> Vec<u8> {
    Job {
        workdir: WORKDIR.to_owned(),
        files: Vec::new(),
        env: spec.env.clone(),
        stages: {
            let marked = spec.stages.iter().any(|stage| stage.stdin);
            let last = spec.stages.len().saturating_sub(1);
            spec.stages
                .iter()
                .enumerate()
                .map(|(index, stage)| Stage {
                    name: stage.name.clone(),
                    steps: stage.steps.clone(),
                    options: StageOptions {
                        stdin: if marked { stage.stdin } else { index == last },
                        fresh_workdir: stage.fresh_workdir,
                        file_size: stage.file_size,
                        stack: stage.stack,
                        stderr_to_stdout: stage.stderr_to_stdout,
                    },
                })
                .collect()
        },
        stdin: if interactive {
            Vec::new()
        } else {
            spec.stdin.clone()
        },
        interactive,
    }
    .encode_with_files(spec.files.iter().map(|(n, c)| (n.as_str(), &c[..])))
}

/// A stage's limits set on the container's cgroup before the runner is
/// told to go: its memory (at most the container's; the peak restarted).
/// Without a cgroup found, the container's limits hold for every stage.
struct StageLimits<'a> {
    cgroup: Option<Cgroup>,
    stages: &'a [StageSpec],
    container_mb: u32,
    to_runner: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
}

impl StageControl for StageLimits<'_> {
    /// A limit that cannot be set refuses the stage: on cgroup v1 the kernel
    /// will not lower a limit below what the container holds (EBUSY), and
    /// files in `/tmp` (a tmpfs, never reclaimed without swap) count, so a
    /// stage that would run over its limit is never started under a higher
    /// one.
    fn begin(&mut self, index: usize) -> Result<(), NotBegun> {
        if let Some(cgroup) = &self.cgroup {
            let mb = self.stages[index]
                .memory_mb
                .map_or(u64::from(self.container_mb), |mb| {
                    mb.min(u64::from(self.container_mb))
                });
            if let Err(e) = cgroup.limit_memory(mb << 20) {
                // EBUSY: below what the container holds. Anything else
                // is this host's cgroup refusing: an error, never a run
                // without its limit.
                // ENOENT, ENODEV: the cgroup is gone with its container
                // (the kernel's OOM killer took the runner): the run's end.
                if matches!(e.raw_os_error(), Some(2 | 19)) {
                    return Err(NotBegun::OverLimit(
                        "its container ended before it could start".into(),
                    ));
                }
                if e.raw_os_error() == Some(16) {
                    tracing::info!(
                        stage = index,
                        mb,
                        "a stage's memory limit is below what the run holds"
                    );
                    return Err(NotBegun::OverLimit(format!("its memory limit of {mb} MiB is below what the run already holds (the files in /tmp count)")));
                }
                tracing::error!(error = %e, stage = index, mb, "a stage's memory limit could not be set");
                return Err(NotBegun::Failed(format!(
                    "the stage's memory limit of {mb} MiB could not be set: {e}"
                )));
            }
            cgroup.reset_peak();
        }
        let _ = self.to_runner.send(Control::Continue.encode());
        Ok(())
    }

    fn cpu_nanos(&self) -> Option<u64> {
        self.cgroup.as_ref()?.cpu_nanos()
    }

    fn memory_peak(&self) -> Option<u64> {
        self.cgroup.as_ref()?.memory_peak()
    }
}

impl RunOutcome {
    fn set_usage(&mut self, usage: cgroup::Usage) {
        self.memory_peak = usage.memory_peak;
        self.cpu_time = usage.cpu_nanos.map(Duration::from_nanos);
        self.oom_killed = usage.oom_kills.is_some_and(|n| n > 0);
    }
}
