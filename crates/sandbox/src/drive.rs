//! One job handed to a started container and its outcome gathered: the
//! job's frames and the client's input written to the runner, the runner's
//! events read within the byte cap, the kernel's figures read from the
//! cgroup, and how the run ended told apart (an exit, a timeout, a limit, a
//! container that never ran the job).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use whipcode_runner::{Control, Job, Piece, Stage, StageOptions};

use super::engine::{Demuxed, ExitProbe};
use super::error::EngineError;
use super::events::{collect, Collected, Output};
use super::job::{Input, Interaction, RunOutcome, RunSpec, SandboxError};
use super::launch::{Started, START_DEADLINE};
use super::policy::WORKDIR;
use super::stage_limits::StageLimits;

/// How long the engine gets to report how a container without a report ended.
const FAILURE_REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a container that reported its end gets to exit by itself
/// before it is killed and removed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// The client's input waiting for the container, in messages.
const INPUT_QUEUE: usize = 16;

/// How a hand-over ended: with an outcome, or before the program started
/// (so a warm container that had died can be replaced by a fresh one).
pub enum Driven {
    Done(Box<Result<RunOutcome, SandboxError>>),
    NeverStarted(SandboxError),
}

impl Driven {
    pub fn into_result(self) -> Result<RunOutcome, SandboxError> {
        match self {
            Driven::Done(result) => *result,
            Driven::NeverStarted(e) => Err(e),
        }
    }
}

/// Hands the job to a started container and gathers its outcome; an
/// interactive run's input goes to the runner while it runs.
pub async fn drive(
    started: Started,
    spec: &RunSpec,
    interaction: Option<&mut Interaction>,
    output_limit: usize,
) -> Driven {
    let Started {
        container,
        cgroup,
        stdin,
        mut events,
        demux,
        exit,
    } = started;
    let handed_at = Instant::now();
    let writer = Writer::spawn(stdin, job_pieces(spec, interaction.is_some()));
    let mut control = StageLimits::new(cgroup, &spec.stages, spec.limits.memory_mb, writer.frames);
    let (input, live) = match interaction {
        Some(i) => (Some(&mut i.input), Some(&i.events)),
        None => (None, None),
    };
    let collected = tokio::select! {
        collected = collect(
            &mut events,
            START_DEADLINE,
            &spec.stages,
            output_limit,
            &mut control,
            live,
        ) => collected,
        () = forward(input, writer.input) => unreachable!("forwarding never ends by itself"),
    };
    let mut outcome = RunOutcome {
        container: container.name().to_owned(),
        container_age: handed_at.elapsed(),
        ..RunOutcome::default()
    };
    outcome.set_usage(control.usage());
    drop(control);
    let ending = Ending {
        container,
        demux,
        exit,
    };
    ending.conclude(collected, outcome).await
}

/// The two ways into the runner's stdin. The job's frames and the
/// go-aheads go first and are never held back; the client's input has its
/// own bounded channel, so a client that sends faster than the container
/// takes it waits. Stdin stays open after them: after its exit frame the
/// runner waits for it to close, so that the cgroup can still be read.
/// Dropping both senders closes it.
struct Writer {
    frames: mpsc::UnboundedSender<Bytes>,
    input: mpsc::Sender<Bytes>,
}

impl Writer {
    fn spawn(mut stdin: std::pin::Pin<Box<dyn AsyncWrite + Send>>, job: Vec<Bytes>) -> Writer {
        let (frames, mut frames_out) = mpsc::unbounded_channel::<Bytes>();
        let (input, mut input_out) = mpsc::channel::<Bytes>(INPUT_QUEUE);
        for piece in job {
            let _ = frames.send(piece);
        }
        tokio::spawn(async move {
            loop {
                let bytes = tokio::select! {
                    biased;
                    Some(bytes) = frames_out.recv() => bytes,
                    Some(bytes) = input_out.recv() => bytes,
                    else => break,
                };
                if stdin.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = stdin.shutdown().await;
        });
        Writer { frames, input }
    }
}

/// The client's input, forwarded to the runner for as long as the events
/// are read (never ends by itself).
async fn forward(input: Option<&mut mpsc::Receiver<Input>>, to_runner: mpsc::Sender<Bytes>) {
    if let Some(input) = input {
        while let Some(next) = input.recv().await {
            let control = match next {
                Input::Stdin(bytes) => Control::Input(bytes),
                Input::EndOfStdin => Control::InputEnd,
                Input::Signal(n) => Control::Signal(n),
            };
            if to_runner.send(control.encode().into()).await.is_err() {
                break;
            }
        }
    }
    drop(to_runner);
    std::future::pending::<()>().await
}

/// What is left of a started container once its events are read.
struct Ending {
    container: super::container::LiveContainer,
    demux: tokio::task::JoinHandle<Demuxed>,
    exit: ExitProbe,
}

impl Ending {
    /// The outcome of how the events ended; the container is ended on every
    /// path (after a grace to exit by itself when the runner reported).
    async fn conclude(self, collected: Collected, mut outcome: RunOutcome) -> Driven {
        let (output, extra): (Output, fn(&mut RunOutcome)) = match collected {
            Collected::Exit(output, report) => {
                output.into_outcome(&mut outcome);
                outcome.exit_code = report.code;
                outcome.signal = report.signal;
                if outcome.cpu_time.is_none() {
                    outcome.cpu_time = Some(Duration::from_micros(report.cpu_micros));
                    outcome.cpu_time_from_runner = true;
                }
                // stdin is closed: the runner exits and the stream ends.
                let demux = self.demux;
                self.container.end_after(
                    async move {
                        let _ = demux.await;
                    },
                    EXIT_GRACE,
                );
                return Driven::Done(Box::new(Ok(outcome)));
            }
            Collected::TimedOut(output) => (output, |o| o.timed_out = true),
            Collected::Truncated(output) => (output, |o| {
                o.truncated = true;
                o.signal = Some(9);
            }),
            Collected::OverLimit(output) => (output, |o| {
                o.signal = Some(9);
                o.oom_killed = true;
            }),
            Collected::Ended(output) => return self.ended(output, outcome).await,
            Collected::Broken(output, reason) => {
                self.container.end();
                output.into_outcome(&mut outcome);
                return Driven::Done(Box::new(Ok(broke_the_channel(outcome, reason))));
            }
            Collected::Failed(reason) => {
                self.container.end();
                return Driven::Done(Box::new(Err(SandboxError::Runner(short(&reason)))));
            }
        };
        output.into_outcome(&mut outcome);
        extra(&mut outcome);
        self.container.end();
        Driven::Done(Box::new(Ok(outcome)))
    }

    /// The container ended without the runner's report: killed from
    /// outside (the memory limit), or it never ran the job.
    async fn ended(self, output: Output, mut outcome: RunOutcome) -> Driven {
        let demuxed = tokio::time::timeout(FAILURE_REPORT_DEADLINE, self.demux)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if let (Some(reason), true) = (demuxed.over_budget, output.started) {
            self.container.end();
            output.into_outcome(&mut outcome);
            return Driven::Done(Box::new(Ok(broke_the_channel(outcome, reason))));
        }
        if !output.started {
            self.container.end();
            return Driven::NeverStarted(SandboxError::Engine(EngineError::failed(format!(
                "container ended before the program started: {}",
                String::from_utf8_lossy(&demuxed.stderr).trim()
            ))));
        }
        output.into_outcome(&mut outcome);
        match (self.exit)(FAILURE_REPORT_DEADLINE).await {
            // The runner was killed by a signal: the kernel's (the memory
            // limit, a CPU limit), since the program runs as another user
            // without capabilities and cannot signal PID 1, nor change its
            // limits.
            Some(code) if code > 128 => {
                outcome.signal = Some(code - 128);
                self.container.end();
                Driven::Done(Box::new(Ok(outcome)))
            }
            // The runner ended by itself, so it wrote a report that never
            // arrived, or it is still running: the stream broke (podman's
            // service died mid-run). No answer is made up.
            _ => {
                self.container.end();
                Driven::Done(Box::new(Err(SandboxError::Engine(EngineError::failed(
                    "lost the container's stream before its report",
                )))))
            }
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

/// The job's frames, in pieces: the files and stdin are the spec's own
/// bytes (shared, never copied), the rest encoded here.
fn job_pieces(spec: &RunSpec, interactive: bool) -> Vec<Bytes> {
    let job = Job {
        workdir: WORKDIR.to_owned(),
        files: Vec::new(),
        env: spec.env.clone(),
        stages: stages(spec),
        stdin: Vec::new(),
        interactive,
    };
    let named: Vec<(&str, usize)> = spec
        .files
        .iter()
        .map(|(n, c)| (n.as_str(), c.len()))
        .collect();
    // An interactive run's stdin comes from the client, live.
    let stdin = if interactive {
        Bytes::new()
    } else {
        spec.stdin.clone()
    };
    job.encode_pieces(&named, stdin.len())
        .into_iter()
        .map(|piece| match piece {
            Piece::Encoded(bytes) => Bytes::from(bytes),
            Piece::File(index) => spec.files[index].1.clone(),
            Piece::Stdin => stdin.clone(),
        })
        .filter(|bytes| !bytes.is_empty())
        .collect()
}

/// The spec's stages as the runner takes them; without a stage marked to
/// read stdin, the last one does.
fn stages(spec: &RunSpec) -> Vec<Stage> {
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
}

impl RunOutcome {
    fn set_usage(&mut self, usage: super::cgroup::Usage) {
        self.memory_peak = usage.memory_peak;
        self.cpu_time = usage.cpu_nanos.map(Duration::from_nanos);
        self.oom_killed = usage.oom_kills.is_some_and(|n| n > 0);
    }
}
