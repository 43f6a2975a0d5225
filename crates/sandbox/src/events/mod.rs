//! Reading the runner's event frames (`Started`, stages, output, `Exit`)
//! from a container's stream into what a run produced: output kept within
//! the byte cap (one cap per stream over all stages), each stage under its
//! own deadline and CPU budget counted from its start, its limits set
//! through [`StageControl`] before the runner is told to go, and how the
//! stream ended.

mod frames;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncRead;
use tokio::time::Instant;
use whipcode_runner::{Event, ExitReport};

use frames::Frames;

use super::job::{LiveEvent, RunOutcome, StageOutcome, StageSpec};
use super::output::Captured;

/// How often a stage's CPU time is read while it has a CPU budget.
const CPU_POLL: Duration = Duration::from_millis(25);

/// What collecting asks of the container around each stage.
pub trait StageControl {
    /// Stage `index` is about to start: set its limits, start its memory
    /// peak, and tell the runner to go; or, when its limits cannot be set,
    /// say why and tell the runner nothing (the run ends there).
    fn begin(&mut self, index: usize) -> Result<(), NotBegun>;
    /// CPU nanoseconds of the whole container so far.
    fn cpu_nanos(&self) -> Option<u64>;
    /// Peak memory since the last [`StageControl::begin`].
    fn memory_peak(&self) -> Option<u64>;
}

/// Why a stage was not started.
#[derive(Debug)]
pub enum NotBegun {
    /// Its memory limit is below what the run already holds: the run's own
    /// answer (a memory kill, with the reason on its stderr).
    OverLimit(String),
    /// Its limits could not be set at all: the service's fault.
    Failed(String),
}

/// Output gathered so far.
#[derive(Default)]
pub struct Output {
    /// Every stage's output, in order.
    pub stdout: Captured,
    pub stderr: Captured,
    /// The stages that started.
    pub stages: Vec<StageOutcome>,
    /// The runner reported that the job started.
    pub started: bool,
}

impl Output {
    pub fn into_outcome(self, outcome: &mut RunOutcome) {
        outcome.timed_out = self.stages.iter().any(|s| s.timed_out);
        outcome.stdout = self.stdout;
        outcome.stderr = self.stderr;
        outcome.stages = self.stages;
    }
}

/// How reading a run's events ended.
pub enum Collected {
    Exit(Output, ExitReport),
    /// A stage's wall-clock or CPU budget ran out.
    TimedOut(Output),
    Truncated(Output),
    /// The stream ended without an exit report.
    Ended(Output),
    /// The runner's channel broke the protocol (malformed or too many
    /// frames); what was captured until then.
    Broken(Output, String),
    /// A stage's limits could not be set (its memory limit is below what
    /// the container already holds): it never started.
    OverLimit(Output),
    /// The container never reported the job's start, the runner reported
    /// a failure of its own (it could not write the job's files or become
    /// the program's user), or a stage's limits could not be set.
    Failed(String),
}

/// Most event frames one run may send: with output frames of at least a
/// few bytes, far above what the output caps let through.
pub fn max_events(output_limit: usize) -> usize {
    output_limit.saturating_mul(2) / 4 + 4096
}

/// The stage under way.
struct Current {
    index: usize,
    started: Instant,
    cpu_base: Option<u64>,
}

/// Where an interactive run's events go as they happen: a bounded channel,
/// so a reader that stops taking them stops the run's output.
pub type Live = tokio::sync::mpsc::Sender<LiveEvent>;

/// Reads events until the exit report, a deadline, the output cap or EOF;
/// each stage start, output chunk (what the cap kept) and stage end also go
/// to `live`, waited for within the stage's deadline.
pub async fn collect(
    stream: &mut (impl AsyncRead + Unpin),
    start_deadline: Duration,
    stages: &[StageSpec],
    output_limit: usize,
    control: &mut impl StageControl,
    live: Option<&Live>,
) -> Collected {
    let mut run = Collecting {
        out: Output::default(),
        deadline: Instant::now() + start_deadline,
        current: None,
        seen: 0,
        start_deadline,
        stages,
        output_limit,
        control,
        live,
    };
    let mut frames = Frames::default();
    loop {
        let event = match run.next_event(&mut frames, stream).await {
            ControlFlow::Continue(event) => event,
            ControlFlow::Break(done) => return done,
        };
        if let ControlFlow::Break(done) = run.take(event).await {
            return done;
        }
    }
}

/// A run's events being read: what was kept so far and the stage under way.
struct Collecting<'a, C> {
    out: Output,
    /// When the stage under way (or the next frame) is out of time.
    deadline: Instant,
    current: Option<Current>,
    /// Frames read so far.
    seen: usize,
    start_deadline: Duration,
    stages: &'a [StageSpec],
    output_limit: usize,
    control: &'a mut C,
    live: Option<&'a Live>,
}

impl<C: StageControl> Collecting<'_, C> {
    /// The next event, or how the run ended while waiting for it (a
    /// deadline, a CPU budget, the stream's end, a malformed frame).
    async fn next_event(
        &mut self,
        frames: &mut Frames,
        stream: &mut (impl AsyncRead + Unpin),
    ) -> ControlFlow<Collected, Event> {
        loop {
            let budget = self
                .current
                .as_ref()
                .and_then(|c| Some((c.cpu_base, self.stages.get(c.index)?.cpu_time?)));
            let wake = match budget {
                Some(_) => self.deadline.min(Instant::now() + CPU_POLL),
                None => self.deadline,
            };
            let event = match tokio::time::timeout_at(wake, frames.next(stream)).await {
                Err(_) if Instant::now() < self.deadline => {
                    if let Some((base, limit)) = budget {
                        self.check_cpu(base, limit)?;
                    }
                    continue;
                }
                Err(_) if self.out.started => return ControlFlow::Break(self.timed_out()),
                Err(_) => {
                    return ControlFlow::Break(Collected::Failed(
                        "container did not start in time".into(),
                    ))
                }
                Ok(Ok(Some(event))) => event,
                Ok(Ok(None)) => {
                    self.finish(|_| {});
                    return ControlFlow::Break(Collected::Ended(self.output()));
                }
                Ok(Err(e)) if self.out.started => {
                    return ControlFlow::Break(self.broken(format!("malformed frame: {e}")));
                }
                Ok(Err(e)) => {
                    return ControlFlow::Break(Collected::Failed(format!("bad event stream: {e}")))
                }
            };
            self.seen += 1;
            let most = max_events(self.output_limit);
            if self.seen > most {
                return ControlFlow::Break(self.broken(format!("more than {most} frames")));
            }
            return ControlFlow::Continue(event);
        }
    }

    /// The stage's CPU time (over the whole container) against its budget.
    fn check_cpu(&mut self, base: Option<u64>, limit: Duration) -> ControlFlow<Collected> {
        let used = self
            .control
            .cpu_nanos()
            .zip(base)
            .map(|(now, base)| now.saturating_sub(base));
        if used.is_some_and(|used| used > limit.as_nanos() as u64) {
            self.finish(|s| {
                s.timed_out = true;
                s.cpu_limited = true;
            });
            return ControlFlow::Break(Collected::TimedOut(self.output()));
        }
        ControlFlow::Continue(())
    }

    /// One event taken in; `Break` with how the run ended, if it did.
    async fn take(&mut self, event: Event) -> ControlFlow<Collected> {
        match event {
            Event::Started => self.out.started = true,
            Event::StageStart(n) => return self.stage_start(n as usize).await,
            Event::Stdout(bytes) => return self.output_chunk(Stream::Stdout, bytes).await,
            Event::Stderr(bytes) => return self.output_chunk(Stream::Stderr, bytes).await,
            Event::StageEnd(n, report) => return self.stage_end(n as usize, report).await,
            Event::Exit(report) => {
                self.finish(|_| {});
                return ControlFlow::Break(Collected::Exit(self.output(), report));
            }
            Event::Error(message) => return ControlFlow::Break(Collected::Failed(message)),
        }
        ControlFlow::Continue(())
    }

    /// Stage `index` starts: its limits set (or why not), its deadline and
    /// CPU base taken, and the client told.
    async fn stage_start(&mut self, index: usize) -> ControlFlow<Collected> {
        let stages = self.stages;
        if self.current.is_some() || index != self.out.stages.len() || index >= stages.len() {
            return ControlFlow::Break(Collected::Broken(
                self.output(),
                format!("stage {index} out of order"),
            ));
        }
        let begun = self.control.begin(index);
        self.out.stages.push(StageOutcome {
            name: stages[index].name.clone(),
            ..StageOutcome::default()
        });
        let started = Instant::now();
        self.deadline = started + stages[index].timeout;
        self.current = Some(Current {
            index,
            started,
            cpu_base: self.control.cpu_nanos(),
        });
        match begun {
            Ok(()) => {}
            Err(NotBegun::Failed(why)) => return ControlFlow::Break(Collected::Failed(why)),
            Err(NotBegun::OverLimit(why)) => {
                let note = format!(
                    "whipcode: the {} stage was not started: {why}\n",
                    stages[index].name
                );
                keep(
                    &mut self.out,
                    true,
                    Stream::Stderr,
                    note.into_bytes(),
                    self.output_limit,
                );
                self.finish(|s| s.signal = Some(9));
                return ControlFlow::Break(Collected::OverLimit(self.output()));
            }
        }
        if !emit(
            self.live,
            LiveEvent::Stage(stages[index].name.clone()),
            self.deadline,
        )
        .await
        {
            return ControlFlow::Break(self.timed_out());
        }
        ControlFlow::Continue(())
    }

    /// Output kept within the cap, and passed on live.
    async fn output_chunk(&mut self, stream: Stream, bytes: Vec<u8>) -> ControlFlow<Collected> {
        let in_stage = self.current.is_some();
        let (exceeded, kept) = keep(&mut self.out, in_stage, stream, bytes, self.output_limit);
        if self.live.is_some() && !kept.is_empty() {
            let event = match stream {
                Stream::Stdout => LiveEvent::Stdout(kept),
                Stream::Stderr => LiveEvent::Stderr(kept),
            };
            if !emit(self.live, event, self.deadline).await {
                return ControlFlow::Break(self.timed_out());
            }
        }
        if exceeded {
            self.finish(|s| s.truncated = true);
            return ControlFlow::Break(Collected::Truncated(self.output()));
        }
        ControlFlow::Continue(())
    }

    /// Stage `index` ended with `report`; the next stage (or the exit
    /// report) follows at once.
    async fn stage_end(&mut self, index: usize, report: ExitReport) -> ControlFlow<Collected> {
        if self.current.as_ref().map(|c| c.index) != Some(index) {
            return ControlFlow::Break(Collected::Broken(
                self.output(),
                format!("end of stage {index}, which is not under way"),
            ));
        }
        self.finish(|s| {
            s.exit_code = report.code;
            s.signal = report.signal;
            if s.cpu_time.is_none() {
                s.cpu_time = Some(Duration::from_micros(report.cpu_micros));
            }
        });
        self.deadline = Instant::now() + self.start_deadline;
        let ended = LiveEvent::StageEnd {
            name: self.stages[index].name.clone(),
            code: report.code,
            signal: report.signal,
        };
        if !emit(self.live, ended, self.deadline).await {
            // The client stopped reading: the run ends as out of time.
            if let Some(last) = self.out.stages.last_mut() {
                last.timed_out = true;
            }
            return ControlFlow::Break(Collected::TimedOut(self.output()));
        }
        ControlFlow::Continue(())
    }

    fn finish(&mut self, how: impl FnOnce(&mut StageOutcome)) {
        finish(&mut self.out, &mut self.current, &*self.control, how);
    }

    /// The stage under way closed as out of time.
    fn timed_out(&mut self) -> Collected {
        self.finish(|s| s.timed_out = true);
        Collected::TimedOut(self.output())
    }

    /// The stage under way closed; the channel broke for `reason`.
    fn broken(&mut self, reason: String) -> Collected {
        self.finish(|_| {});
        Collected::Broken(self.output(), reason)
    }

    /// What was kept, taken out as the run ends.
    fn output(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }
}

/// Hands `event` to `live`, if any, by `deadline`; false when the deadline
/// passed first (the reader is not taking events). A reader that has gone
/// is not waited for.
async fn emit(live: Option<&Live>, event: LiveEvent, deadline: Instant) -> bool {
    let Some(live) = live else {
        return true;
    };
    tokio::time::timeout_at(deadline, live.send(event))
        .await
        .is_ok()
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Keeps what fits of `bytes` under the stream's cap, in the run's output
/// and (the same chunk, shared) the current stage's; whether some did not
/// fit, and the chunk kept.
fn keep(
    out: &mut Output,
    in_stage: bool,
    stream: Stream,
    mut bytes: Vec<u8>,
    cap: usize,
) -> (bool, Bytes) {
    let merged = match stream {
        Stream::Stdout => &mut out.stdout,
        Stream::Stderr => &mut out.stderr,
    };
    let room = cap.saturating_sub(merged.len());
    let exceeded = bytes.len() > room;
    bytes.truncate(room);
    let chunk = Bytes::from(bytes);
    merged.push(chunk.clone());
    if let (true, Some(stage)) = (in_stage, out.stages.last_mut()) {
        stage.output.push(chunk.clone());
        let name = match stream {
            Stream::Stdout => {
                stage.stdout.push(chunk.clone());
                "stdout"
            }
            Stream::Stderr => {
                stage.stderr.push(chunk.clone());
                "stderr"
            }
        };
        if exceeded {
            stage.truncated_stream = Some(name);
        }
    }
    (exceeded, chunk)
}

/// Closes the stage under way, if any: its wall time and the kernel's
/// figures, then whatever `how` says.
fn finish(
    out: &mut Output,
    current: &mut Option<Current>,
    control: &impl StageControl,
    how: impl FnOnce(&mut StageOutcome),
) {
    let Some(stage) = current.take() else {
        return;
    };
    let Some(outcome) = out.stages.get_mut(stage.index) else {
        return;
    };
    outcome.wall_time = stage.started.elapsed();
    outcome.cpu_time = control
        .cpu_nanos()
        .zip(stage.cpu_base)
        .map(|(now, base)| Duration::from_nanos(now.saturating_sub(base)));
    outcome.memory_peak = control.memory_peak();
    how(outcome);
}
