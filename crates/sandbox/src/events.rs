//! Reading the runner's event frames (`Started`, stages, output, `Exit`)
//! from a container's stream into what a run produced: output kept within
//! the byte cap (one cap per stream over all stages), each stage under its
//! own deadline and CPU budget counted from its start, its limits set
//! through [`StageControl`] before the runner is told to go, and how the
//! stream ended.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use whipcode_runner::{parse_header, Event, ExitReport};

use super::job::{LiveEvent, RunOutcome, StageOutcome, StageSpec};
use super::output::Captured;

/// Largest event frame accepted from a container.
const MAX_EVENT: usize = 1024 * 1024;
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
    let mut out = Output::default();
    let mut frames = Frames::default();
    let mut deadline = Instant::now() + start_deadline;
    let mut current: Option<Current> = None;
    let most = max_events(output_limit);
    let mut seen = 0;
    loop {
        let budget = current
            .as_ref()
            .and_then(|c| Some((c, stages.get(c.index)?.cpu_time?)));
        let wake = match budget {
            Some(_) => deadline.min(Instant::now() + CPU_POLL),
            None => deadline,
        };
        let frame = match tokio::time::timeout_at(wake, frames.next(stream)).await {
            Err(_) if Instant::now() < deadline => {
                // A CPU check: the budget is the stage's CPU time over the whole container.
                if let Some((stage, limit)) = budget {
                    let used = control
                        .cpu_nanos()
                        .zip(stage.cpu_base)
                        .map(|(now, base)| now.saturating_sub(base));
                    if used.is_some_and(|used| used > limit.as_nanos() as u64) {
                        finish(&mut out, &mut current, control, |s| {
                            s.timed_out = true;
                            s.cpu_limited = true;
                        });
                        return Collected::TimedOut(out);
                    }
                }
                continue;
            }
            Err(_) if out.started => {
                finish(&mut out, &mut current, control, |s| s.timed_out = true);
                return Collected::TimedOut(out);
            }
            Err(_) => return Collected::Failed("container did not start in time".into()),
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => {
                finish(&mut out, &mut current, control, |_| {});
                return Collected::Ended(out);
            }
            Ok(Err(e)) if out.started => {
                finish(&mut out, &mut current, control, |_| {});
                return Collected::Broken(out, format!("malformed frame: {e}"));
            }
            Ok(Err(e)) => return Collected::Failed(format!("bad event stream: {e}")),
        };
        let stream = match &frame {
            Event::Stderr(_) => Stream::Stderr,
            _ => Stream::Stdout,
        };
        seen += 1;
        if seen > most {
            finish(&mut out, &mut current, control, |_| {});
            return Collected::Broken(out, format!("more than {most} frames"));
        }
        match frame {
            Event::Started => out.started = true,
            Event::StageStart(n) => {
                let index = n as usize;
                if current.is_some() || index != out.stages.len() || index >= stages.len() {
                    return Collected::Broken(out, format!("stage {n} out of order"));
                }
                let begun = control.begin(index);
                out.stages.push(StageOutcome {
                    name: stages[index].name.clone(),
                    ..StageOutcome::default()
                });
                let started = Instant::now();
                deadline = started + stages[index].timeout;
                current = Some(Current {
                    index,
                    started,
                    cpu_base: control.cpu_nanos(),
                });
                if let Err(NotBegun::Failed(why)) = begun {
                    return Collected::Failed(why);
                }
                if let Err(NotBegun::OverLimit(why)) = begun {
                    let note = format!(
                        "whipcode: the {} stage was not started: {why}\n",
                        stages[index].name
                    );
                    keep(
                        &mut out,
                        true,
                        Stream::Stderr,
                        note.into_bytes(),
                        output_limit,
                    );
                    finish(&mut out, &mut current, control, |s| s.signal = Some(9));
                    return Collected::OverLimit(out);
                }
                if !emit(live, LiveEvent::Stage(stages[index].name.clone()), deadline).await {
                    finish(&mut out, &mut current, control, |s| s.timed_out = true);
                    return Collected::TimedOut(out);
                }
            }
            Event::Stdout(bytes) | Event::Stderr(bytes) => {
                let (exceeded, kept) =
                    keep(&mut out, current.is_some(), stream, bytes, output_limit);
                if live.is_some() && !kept.is_empty() {
                    let event = match stream {
                        Stream::Stdout => LiveEvent::Stdout(kept),
                        Stream::Stderr => LiveEvent::Stderr(kept),
                    };
                    if !emit(live, event, deadline).await {
                        finish(&mut out, &mut current, control, |s| s.timed_out = true);
                        return Collected::TimedOut(out);
                    }
                }
                if exceeded {
                    finish(&mut out, &mut current, control, |s| s.truncated = true);
                    return Collected::Truncated(out);
                }
            }
            Event::StageEnd(n, report) => {
                if current.as_ref().map(|c| c.index) != Some(n as usize) {
                    return Collected::Broken(
                        out,
                        format!("end of stage {n}, which is not under way"),
                    );
                }
                finish(&mut out, &mut current, control, |s| {
                    s.exit_code = report.code;
                    s.signal = report.signal;
                    if s.cpu_time.is_none() {
                        s.cpu_time = Some(Duration::from_micros(report.cpu_micros));
                    }
                });
                // The next stage (or the exit report) follows at once.
                deadline = Instant::now() + start_deadline;
                let ended = LiveEvent::StageEnd {
                    name: stages[n as usize].name.clone(),
                    code: report.code,
                    signal: report.signal,
                };
                if !emit(live, ended, deadline).await {
                    // The client stopped reading: the run ends as out of time.
                    if let Some(last) = out.stages.last_mut() {
                        last.timed_out = true;
                    }
                    return Collected::TimedOut(out);
                }
            }
            Event::Exit(report) => {
                finish(&mut out, &mut current, control, |_| {});
                return Collected::Exit(out, report);
            }
            Event::Error(message) => return Collected::Failed(message),
        }
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

/// Frames read off a stream, cancel-safe: the only await point reads into
/// a buffer kept here, so a deadline can interrupt a read without losing a
/// partial frame.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Frames {
    async fn next(
        &mut self,
        stream: &mut (impl AsyncRead + Unpin),
    ) -> std::io::Result<Option<Event>> {
        loop {
            if self.buf.len() >= 5 {
                let header: [u8; 5] = self.buf[..5].try_into().expect("five bytes");
                let (tag, len) = parse_header(&header)?;
                if len > MAX_EVENT {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("event of {len} bytes"),
                    ));
                }
                if self.buf.len() >= 5 + len {
                    let payload = self.buf[5..5 + len].to_vec();
                    self.buf.drain(..5 + len);
                    return Event::decode(tag, payload).map(Some);
                }
            }
            if self.scratch.is_empty() {
                self.scratch = vec![0u8; 64 * 1024];
            }
            let n = stream.read(&mut self.scratch).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const START: Duration = Duration::from_secs(60);

    /// No cgroup: figures unknown, limits not set.
    #[derive(Default)]
    struct Recorder {
        begun: Vec<usize>,
        cpu: Option<u64>,
    }

    impl StageControl for Recorder {
        fn begin(&mut self, index: usize) -> Result<(), NotBegun> {
            self.begun.push(index);
            Ok(())
        }
        fn cpu_nanos(&self) -> Option<u64> {
            self.cpu
        }
        fn memory_peak(&self) -> Option<u64> {
            None
        }
    }

    fn stage(name: &str, timeout: Duration) -> StageSpec {
        StageSpec {
            name: name.into(),
            steps: vec![vec!["x".into()]],
            timeout,
            cpu_time: None,
            memory_mb: None,
            ..StageSpec::default()
        }
    }

    fn frames(events: &[Event]) -> Vec<u8> {
        let mut buf = Vec::new();
        for e in events {
            e.encode_into(&mut buf);
        }
        buf
    }

    fn report(code: i32) -> ExitReport {
        ExitReport {
            code: Some(code),
            signal: None,
            cpu_micros: 10,
        }
    }

    async fn collect_one(bytes: &[u8], timeout: Duration, limit: usize) -> Collected {
        let stages = [stage("run", timeout)];
        collect(
            &mut &bytes[..],
            START,
            &stages,
            limit,
            &mut Recorder::default(),
            None,
        )
        .await
    }

    #[tokio::test]
    async fn output_is_capped_while_it_streams() {
        let chunk = Event::Stdout(vec![b'x'; 1000]);
        let bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            chunk.clone(),
            chunk.clone(),
            chunk,
        ]);
        match collect_one(&bytes, Duration::from_secs(5), 2500).await {
            Collected::Truncated(out) => {
                assert_eq!(out.stdout.len(), 2500);
                assert!(out.stages[0].truncated);
                assert_eq!(out.stages[0].truncated_stream, Some("stdout"));
                assert_eq!(out.stages[0].stdout.len(), 2500);
            }
            _ => panic!("expected truncation"),
        }
    }

    #[tokio::test]
    async fn each_stage_keeps_its_own_output_and_status_and_the_run_all_of_it() {
        let bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            Event::Stderr(b"warning\n".to_vec()),
            Event::StageEnd(0, report(0)),
            Event::StageStart(1),
            Event::Stdout(b"a".to_vec()),
            Event::Stderr(b"b".to_vec()),
            Event::StageEnd(1, report(3)),
            Event::Exit(report(3)),
        ]);
        let stages = [stage("compile", START), stage("run", START)];
        let mut control = Recorder::default();
        let mut with_garbage = bytes.clone();
        with_garbage.extend_from_slice(b"trailing garbage is never read");
        match collect(
            &mut with_garbage.as_slice(),
            START,
            &stages,
            100,
            &mut control,
            None,
        )
        .await
        {
            Collected::Exit(out, r) => {
                assert_eq!(r, report(3));
                assert_eq!(out.stderr.to_vec(), b"warning\nb");
                assert_eq!(out.stdout.to_vec(), b"a");
                let [compile, run] = &out.stages[..] else {
                    panic!()
                };
                assert_eq!(
                    (compile.name.as_str(), compile.exit_code),
                    ("compile", Some(0))
                );
                assert_eq!(compile.stderr.to_vec(), b"warning\n");
                assert!(compile.stdout.is_empty());
                assert_eq!((run.name.as_str(), run.exit_code), ("run", Some(3)));
                assert_eq!(run.stderr.to_vec(), b"b");
                assert_eq!(run.output.to_vec(), b"ab", "interleaved in arrival order");
            }
            _ => panic!("expected exit"),
        }
        assert_eq!(control.begun, [0, 1], "limits set before each stage");
    }

    #[tokio::test]
    async fn a_stage_out_of_order_breaks_the_channel() {
        let bytes = frames(&[Event::Started, Event::StageStart(1)]);
        let stages = [stage("compile", START), stage("run", START)];
        let got = collect(
            &mut bytes.as_slice(),
            START,
            &stages,
            100,
            &mut Recorder::default(),
            None,
        )
        .await;
        assert!(matches!(got, Collected::Broken(..)));
    }

    #[tokio::test]
    async fn a_silent_stage_times_out_after_its_own_timeout() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            Event::StageEnd(0, report(0)),
            Event::StageStart(1),
        ]);
        server.write_all(&bytes).await.unwrap();
        let stages = [
            stage("compile", Duration::from_secs(30)),
            stage("run", Duration::from_millis(200)),
        ];
        let started = std::time::Instant::now();
        match collect(
            &mut client,
            START,
            &stages,
            100,
            &mut Recorder::default(),
            None,
        )
        .await
        {
            Collected::TimedOut(out) => {
                assert!(!out.stages[0].timed_out);
                assert!(out.stages[1].timed_out);
            }
            _ => panic!("expected a timeout"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(server);
    }

    /// CPU time that grows 1 ms per 1 ms of wall time.
    struct Busy(std::time::Instant);

    impl StageControl for Busy {
        fn begin(&mut self, _: usize) -> Result<(), NotBegun> {
            Ok(())
        }
        fn cpu_nanos(&self) -> Option<u64> {
            Some(self.0.elapsed().as_nanos() as u64)
        }
        fn memory_peak(&self) -> Option<u64> {
            None
        }
    }

    #[tokio::test]
    async fn a_stage_over_its_cpu_budget_is_stopped_within_the_poll() {
        let (mut client, mut server) = tokio::io::duplex(64);
        server
            .write_all(&frames(&[Event::Started, Event::StageStart(0)]))
            .await
            .unwrap();
        let mut run = stage("run", Duration::from_secs(30));
        run.cpu_time = Some(Duration::from_millis(300));
        let started = std::time::Instant::now();
        match collect(
            &mut client,
            START,
            &[run],
            100,
            &mut Busy(std::time::Instant::now()),
            None,
        )
        .await
        {
            Collected::TimedOut(out) => {
                assert!(out.stages[0].cpu_limited && out.stages[0].timed_out);
                let cpu = out.stages[0].cpu_time.unwrap();
                assert!(
                    cpu >= Duration::from_millis(300) && cpu < Duration::from_millis(400),
                    "{cpu:?}"
                );
            }
            _ => panic!("expected the CPU budget to end the stage"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(server);
    }

    #[tokio::test]
    async fn a_deadline_in_the_middle_of_a_frame_loses_nothing() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut run = stage("run", Duration::from_secs(30));
        run.cpu_time = Some(Duration::from_secs(30)); // polls every 25 ms
        let bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            Event::Stdout(b"split".to_vec()),
            Event::StageEnd(0, report(0)),
            Event::Exit(report(0)),
        ]);
        let writer = tokio::spawn(async move {
            for byte in bytes {
                server.write_all(&[byte]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            server
        });
        match collect(
            &mut client,
            START,
            &[run],
            100,
            &mut Recorder::default(),
            None,
        )
        .await
        {
            Collected::Exit(out, _) => assert_eq!(out.stdout.to_vec(), b"split"),
            _ => panic!("expected exit"),
        }
        drop(writer.await);
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_reported_as_ended() {
        let bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            Event::Stdout(b"partial".to_vec()),
        ]);
        match collect_one(&bytes, Duration::from_secs(5), 100).await {
            Collected::Ended(out) => assert_eq!(out.stdout.to_vec(), b"partial"),
            _ => panic!("expected ended"),
        }
    }

    #[tokio::test]
    async fn a_malformed_frame_after_the_start_keeps_what_was_captured() {
        let mut bytes = frames(&[
            Event::Started,
            Event::StageStart(0),
            Event::Stdout(b"kept".to_vec()),
        ]);
        bytes.extend_from_slice(&[0xee, 0, 0, 0, 1, b'x']);
        match collect_one(&bytes, Duration::from_secs(5), 100).await {
            Collected::Broken(out, reason) => {
                assert_eq!(out.stdout.to_vec(), b"kept");
                assert!(reason.contains("malformed"), "{reason}");
            }
            _ => panic!("expected a broken channel"),
        }
        let garbage = [0xeeu8, 0, 0, 0, 1, b'x'];
        assert!(matches!(
            collect_one(&garbage, Duration::from_secs(5), 100).await,
            Collected::Failed(_)
        ));
    }

    #[tokio::test]
    async fn empty_frames_count_against_the_frame_bound() {
        let limit = 100;
        let mut events = vec![Event::Started, Event::StageStart(0)];
        events.extend(std::iter::repeat_n(
            Event::Stdout(Vec::new()),
            max_events(limit) + 10,
        ));
        let bytes = frames(&events);
        match collect_one(&bytes, Duration::from_secs(5), limit).await {
            Collected::Broken(out, reason) => {
                assert!(out.stdout.is_empty());
                assert!(reason.contains("frames"), "{reason}");
            }
            _ => panic!("expected the frame bound"),
        }
    }
}
