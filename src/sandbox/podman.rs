//! The [`Sandbox`] that runs each job in a fresh container through podman's
//! REST API service.
//!
//! A container is created, attached to and started, and its runner (PID 1)
//! waits for one job on stdin; its events come back on stdout, inside
//! podman's multiplexed attach stream. The answer is ready at the runner's
//! exit frame, not when the container is removed. Deadlines: one for podman
//! to create and start the container, then the program's own timeout counted
//! from its start, so time spent queueing or in podman never eats the
//! program's time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use whipcode_runner::{parse_header, Event, Job, JobFile};

use super::cgroup;
use super::container::LiveContainer;
use super::engine::Engine;
use super::gate::Gate;
use super::libpod::{read_frame, ApiError, AttachStream, Frame, Libpod};
use super::policy::{self, Plan, UserNamespace, WORKDIR};
use super::pool::{Pool, PoolKey};
use super::{BoxFuture, Captured, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError};

/// Longest podman may take to create or start a container (slow under load).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long podman gets to report how a container without a report ended.
const FAILURE_REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a container that reported its end gets to exit by itself
/// before it is killed and removed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Largest event frame accepted from a container.
const MAX_EVENT: usize = 1024 * 1024;
/// Bytes of the container's own stderr (podman's or the runner's messages) kept.
const STDERR_CAP: usize = 16 * 1024;
/// Runner events buffered between the attach stream and the collector.
const EVENT_BUFFER: usize = 256 * 1024;

pub struct PodmanSandbox {
    inner: Arc<Inner>,
}

/// Everything a run needs; shared with the pool's background refills.
pub(super) struct Inner {
    engine: Engine,
    api: Libpod,
    gate: Arc<Gate>,
    runner: PathBuf,
    instance: String,
    output_limit: usize,
    userns: UserNamespace,
    pool: Pool,
}

/// A started container whose runner waits for its one job on stdin.
pub(super) struct Spawned {
    container: LiveContainer,
    id: String,
    stdin: WriteHalf<AttachStream>,
    /// The runner's event stream (stdout of the attach stream).
    events: DuplexStream,
    /// Splits the attach stream; ends with it, giving back what came on stderr.
    demux: tokio::task::JoinHandle<Vec<u8>>,
}

impl Spawned {
    /// The attach stream is still open (a warm container is still usable).
    pub(super) fn is_alive(&self) -> bool {
        !self.demux.is_finished()
    }

    pub(super) fn discard(self) {
        self.demux.abort();
        self.container.end();
    }
}

/// How a hand-over ended: with an outcome, or before the program started
/// (so a warm container that had died can be replaced by a fresh one).
enum Driven {
    Done(Result<RunOutcome, SandboxError>),
    NeverStarted(SandboxError),
}

impl Driven {
    fn into_result(self) -> Result<RunOutcome, SandboxError> {
        match self {
            Driven::Done(result) => result,
            Driven::NeverStarted(e) => Err(e),
        }
    }
}

impl PodmanSandbox {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine,
        api: Libpod,
        gate: Arc<Gate>,
        runner: PathBuf,
        instance: String,
        output_limit: usize,
        userns: UserNamespace,
        pool_size: usize,
    ) -> Self {
        let inner = Arc::new(Inner {
            engine,
            api,
            gate,
            runner,
            instance,
            output_limit,
            userns,
            pool: Pool::new(pool_size),
        });
        Pool::start_trimming(Arc::downgrade(&inner));
        PodmanSandbox { inner }
    }

    /// Warm containers waiting right now.
    pub fn warm(&self) -> usize {
        self.inner.pool.warm()
    }

    /// Stops the pool and removes its warm containers (at shutdown).
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

impl Inner {
    pub(super) fn pool(&self) -> &Pool {
        &self.pool
    }

    fn container_name(&self) -> String {
        format!("whipcode-{}-{:016x}", self.instance, rand::random::<u64>())
    }

    /// Creates, attaches to and starts one container of `key`, holding
    /// `permit`. On any failure the container is removed.
    pub(super) async fn spawn(
        &self,
        key: &PoolKey,
        permit: OwnedSemaphorePermit,
    ) -> Result<Spawned, SandboxError> {
        let name = self.container_name();
        let container =
            LiveContainer::new(self.engine.clone(), self.api.clone(), name.clone(), permit);
        let spec = policy::container_spec(&Plan {
            name: &name,
            instance: &self.instance,
            image: &key.image,
            runner: &self.runner,
            userns: self.userns,
            limits: key.limits,
        });
        let created = self
            .api
            .call(
                Method::POST,
                "/containers/create",
                Some(&spec),
                START_DEADLINE,
            )
            .await
            .map_err(|e| classify_create_failure(&key.image, e))?;
        let id = created["Id"]
            .as_str()
            .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                SandboxError::Engine(format!("create answered without an id: {created}"))
            })?
            .to_owned();
        let stream = self
            .api
            .attach(&id, START_DEADLINE)
            .await
            .map_err(engine_error)?;
        self.api
            .call(
                Method::POST,
                &format!("/containers/{id}/start"),
                None,
                START_DEADLINE,
            )
            .await
            .map_err(engine_error)?;
        let (read, stdin) = tokio::io::split(stream);
        let (events_in, events) = tokio::io::duplex(EVENT_BUFFER);
        Ok(Spawned {
            container,
            id,
            stdin,
            events,
            demux: tokio::spawn(demux(read, events_in)),
        })
    }

    /// A cold start, in a task of its own: a cancelled request never leaves a
    /// container half-created (the task finishes, and dropping its result
    /// removes the container).
    async fn spawn_detached(
        self: &Arc<Self>,
        key: &PoolKey,
        permit: OwnedSemaphorePermit,
    ) -> Result<Spawned, SandboxError> {
        let inner = Arc::clone(self);
        let key = key.clone();
        tokio::spawn(async move { inner.spawn(&key, permit).await })
            .await
            .map_err(|e| SandboxError::Engine(format!("container start task failed: {e}")))?
    }

    async fn run_job(self: &Arc<Self>, spec: RunSpec) -> Result<RunOutcome, SandboxError> {
        let permit = self.gate.enter().await?;
        let key = PoolKey {
            image: spec.image.clone(),
            limits: spec.limits,
        };
        let warm = self.pool.take(&key);
        Pool::refill(self, key.clone());
        let Some(mut warm) = warm else {
            let spawned = self.spawn_detached(&key, permit).await?;
            return self.drive(spawned, &spec).await.into_result();
        };
        // The warm container trades the pool's slot for this run's; if it
        // died while waiting, the job goes to a fresh one.
        warm.container.replace_permit(permit);
        match self.drive(warm, &spec).await {
            Driven::Done(result) => result,
            Driven::NeverStarted(e) => {
                tracing::warn!(error = %e, "a warm container had died; starting a fresh one");
                let permit = self.gate.enter().await?;
                let spawned = self.spawn_detached(&key, permit).await?;
                self.drive(spawned, &spec).await.into_result()
            }
        }
    }

    /// Hands the job to a started container and gathers its outcome.
    async fn drive(&self, spawned: Spawned, spec: &RunSpec) -> Driven {
        let Spawned {
            container,
            id,
            mut stdin,
            mut events,
            demux,
        } = spawned;
        let name = container.name().to_owned();
        let handed_at = Instant::now();
        let job = job_bytes(spec);
        // stdin stays open after the job: after its exit frame the runner
        // waits for it to close, so that the cgroup can still be read.
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = stdin.write_all(&job).await;
            let _ = released.await;
            let _ = stdin.shutdown().await;
        });

        let collected = collect(&mut events, spec.timeout, self.output_limit).await;
        let container_age = handed_at.elapsed();
        let mut outcome = RunOutcome {
            container: name.clone(),
            container_age,
            ..RunOutcome::default()
        };
        outcome.set_usage(cgroup::usage(&id));
        drop(release);
        match collected {
            Collected::Exit(output, report) => {
                output.into_outcome(&mut outcome);
                outcome.exit_code = report.code;
                outcome.signal = report.signal;
                outcome.cpu_time = Some(Duration::from_micros(report.cpu_micros));
                // stdin is closed: the runner exits and the stream ends.
                container.end_after(
                    async move {
                        let _ = demux.await;
                    },
                    EXIT_GRACE,
                );
                return Driven::Done(Ok(outcome));
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
            Collected::Ended(output) => {
                // The container ended without the runner's report: killed from
                // outside (the memory limit) or it never ran the job.
                let stderr = tokio::time::timeout(FAILURE_REPORT_DEADLINE, demux)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                if !output.started {
                    container.end();
                    return Driven::NeverStarted(SandboxError::Engine(format!(
                        "container ended before the program started: {}",
                        String::from_utf8_lossy(&stderr).trim()
                    )));
                }
                output.into_outcome(&mut outcome);
                match self.exit_code(&id).await {
                    // The runner was killed from outside (PID 1 cannot be
                    // signalled from inside): the memory limit.
                    Some(code) if code > 128 => outcome.signal = Some(code - 128),
                    // The runner ended by itself, so it wrote a report that
                    // never arrived, or it is still running: the stream broke
                    // (podman's service died mid-run). No answer is made up.
                    _ => {
                        container.end();
                        return Driven::Done(Err(SandboxError::Engine(
                            "lost the container's stream before its report".into(),
                        )));
                    }
                }
            }
            Collected::Broken(reason) => {
                container.end();
                return Driven::Done(Err(SandboxError::Runner(reason)));
            }
        }
        container.end();
        Driven::Done(Ok(outcome))
    }

    /// The exit code podman recorded for a container that has stopped;
    /// `None` if it is still running after a while or podman cannot say.
    async fn exit_code(&self, id: &str) -> Option<i32> {
        let path = format!("/containers/{id}/json");
        let give_up = tokio::time::Instant::now() + FAILURE_REPORT_DEADLINE;
        while tokio::time::Instant::now() < give_up {
            let state = self
                .api
                .call(Method::GET, &path, None, FAILURE_REPORT_DEADLINE)
                .await
                .ok()?;
            let state = &state["State"];
            if state["Running"] != true {
                return state["ExitCode"]
                    .as_i64()
                    .and_then(|c| i32::try_from(c).ok());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// Copies the runner's events (stream 1) to `events` and keeps the start of
/// stream 2; ends with the attach stream.
async fn demux(mut attach: ReadHalf<AttachStream>, mut events: DuplexStream) -> Vec<u8> {
    let mut stderr = Vec::new();
    while let Ok(Some(frame)) = read_frame(&mut attach).await {
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
    stderr
}

fn engine_error(e: ApiError) -> SandboxError {
    SandboxError::Engine(e.to_string())
}

fn classify_create_failure(image: &str, e: ApiError) -> SandboxError {
    let message = e.message().unwrap_or_default();
    if e.is_not_found() || message.contains("image not known") || message.contains("no such image")
    {
        return SandboxError::ImageMissing {
            image: image.to_owned(),
        };
    }
    engine_error(e)
}

impl Sandbox for PodmanSandbox {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(self.inner.run_job(spec))
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async move {
            let listed = self
                .inner
                .engine
                .project_images()
                .await
                .map_err(SandboxError::Engine)?;
            Ok(listed
                .into_iter()
                .map(|image| InstalledImage {
                    version: image.labels.get(crate::images::VERSION_LABEL).cloned(),
                    reference: image.reference,
                })
                .collect())
        })
    }
}

fn job_bytes(spec: &RunSpec) -> Vec<u8> {
    Job {
        workdir: WORKDIR.to_owned(),
        files: spec
            .files
            .iter()
            .map(|(name, content)| JobFile {
                name: name.clone(),
                content: content.clone(),
            })
            .collect(),
        env: spec.env.clone(),
        steps: spec.steps.clone(),
        stdin: spec.stdin.clone(),
    }
    .encode()
}

impl RunOutcome {
    fn set_usage(&mut self, usage: cgroup::Usage) {
        self.memory_peak = usage.memory_peak;
        self.oom_killed = usage.oom_kills.is_some_and(|n| n > 0);
    }
}

/// Output gathered so far.
#[derive(Default)]
struct Output {
    stdout: Captured,
    stderr: Captured,
    started: bool,
}

impl Output {
    fn into_outcome(self, outcome: &mut RunOutcome) {
        outcome.stdout = self.stdout;
        outcome.stderr = self.stderr;
    }
}

enum Collected {
    Exit(Output, whipcode_runner::ExitReport),
    TimedOut(Output),
    Truncated(Output),
    /// The stream ended without an exit report.
    Ended(Output),
    Broken(String),
}

/// Reads events until the exit report, the deadline, the output cap or EOF.
async fn collect(
    stream: &mut (impl AsyncRead + Unpin),
    timeout: Duration,
    output_limit: usize,
) -> Collected {
    let mut out = Output::default();
    let mut deadline = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        let frame = match tokio::time::timeout_at(deadline, read_event(stream)).await {
            Err(_) if out.started => return Collected::TimedOut(out),
            Err(_) => return Collected::Broken("container did not start in time".into()),
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => return Collected::Ended(out),
            Ok(Err(e)) => return Collected::Broken(format!("bad event stream: {e}")),
        };
        match frame {
            Event::Started if !out.started => {
                out.started = true;
                deadline = tokio::time::Instant::now() + timeout;
            }
            Event::Started => {}
            Event::Stdout(bytes) => {
                if out.stdout.push_capped(bytes, output_limit) {
                    return Collected::Truncated(out);
                }
            }
            Event::Stderr(bytes) => {
                if out.stderr.push_capped(bytes, output_limit) {
                    return Collected::Truncated(out);
                }
            }
            Event::Exit(report) => return Collected::Exit(out, report),
            Event::Error(message) => return Collected::Broken(message),
        }
    }
}

async fn read_event(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Event>> {
    let mut header = [0u8; 5];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (tag, len) = parse_header(&header)?;
    if len > MAX_EVENT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("event of {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Event::decode(tag, payload).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use whipcode_runner::ExitReport;

    fn frames(events: &[Event]) -> Vec<u8> {
        let mut buf = Vec::new();
        for e in events {
            e.encode_into(&mut buf);
        }
        buf
    }

    #[tokio::test]
    async fn output_is_capped_while_it_streams() {
        let chunk = Event::Stdout(vec![b'x'; 1000]);
        let bytes = frames(&[Event::Started, chunk.clone(), chunk.clone(), chunk]);
        match collect(&mut bytes.as_slice(), Duration::from_secs(5), 2500).await {
            Collected::Truncated(out) => assert_eq!(out.stdout.len(), 2500),
            _ => panic!("expected truncation"),
        }
    }

    #[tokio::test]
    async fn the_exit_report_ends_collection_without_waiting_for_eof() {
        let report = ExitReport {
            code: Some(3),
            signal: None,
            cpu_micros: 10,
        };
        let mut bytes = frames(&[
            Event::Started,
            Event::Stdout(b"a".to_vec()),
            Event::Stderr(b"b".to_vec()),
            Event::Exit(report),
        ]);
        bytes.extend_from_slice(b"trailing garbage is never read");
        match collect(&mut bytes.as_slice(), Duration::from_secs(5), 100).await {
            Collected::Exit(out, r) => {
                assert_eq!(
                    (out.stdout.to_vec(), out.stderr.to_vec(), r),
                    (b"a".to_vec(), b"b".to_vec(), report)
                );
            }
            _ => panic!("expected exit"),
        }
    }

    #[tokio::test]
    async fn a_silent_program_times_out_after_its_own_timeout() {
        let (mut client, mut server) = tokio::io::duplex(64);
        server.write_all(&frames(&[Event::Started])).await.unwrap();
        let started = Instant::now();
        match collect(&mut client, Duration::from_millis(200), 100).await {
            Collected::TimedOut(out) => assert!(out.started),
            _ => panic!("expected a timeout"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(server);
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_reported_as_ended() {
        let bytes = frames(&[Event::Started, Event::Stdout(b"partial".to_vec())]);
        match collect(&mut bytes.as_slice(), Duration::from_secs(5), 100).await {
            Collected::Ended(out) => assert_eq!(out.stdout.to_vec(), b"partial"),
            _ => panic!("expected ended"),
        }
    }
}
