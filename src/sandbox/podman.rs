//! The [`Sandbox`] that runs each job in a fresh container via `podman run`.
//!
//! The job goes to the runner (PID 1) as frames on stdin; its events come back
//! on stdout. The answer is ready at the runner's exit frame, not when podman
//! finishes removing the container. Deadlines: one for podman to start the
//! container, then the program's own timeout counted from its start, so time
//! spent queueing or in podman never eats the program's time.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::OwnedSemaphorePermit;
use whipcode_runner::{parse_header, Event, Job, JobFile};

use super::cgroup;
use super::container::{Ending, LiveContainer};
use super::engine::Engine;
use super::gate::Gate;
use super::policy::{self, Plan, UserNamespace, WORKDIR};
use super::pool::{Pool, PoolKey};
use super::{BoxFuture, Captured, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError};

/// Longest podman may take to start a container (it is slow under load).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long podman gets to report why a container never started.
const FAILURE_REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// Largest event frame accepted from a container.
const MAX_EVENT: usize = 1024 * 1024;
/// Bytes of podman's own stderr kept for error messages.
const PODMAN_STDERR_CAP: usize = 16 * 1024;

pub struct PodmanSandbox {
    inner: Arc<Inner>,
}

/// Everything a run needs; shared with the pool's background refills.
pub(super) struct Inner {
    engine: Engine,
    gate: Arc<Gate>,
    runner: PathBuf,
    instance: String,
    output_limit: usize,
    userns: UserNamespace,
    pool: Pool,
}

/// A container whose `podman run` has been started and whose runner waits
/// for its one job on stdin.
pub(super) struct Spawned {
    container: LiveContainer,
    stdin: ChildStdin,
    stdout: ChildStdout,
    podman_stderr: tokio::task::JoinHandle<Vec<u8>>,
    cidfile: PathBuf,
}

impl Spawned {
    /// The podman process has not ended (a warm container is still usable).
    pub(super) fn is_alive(&mut self) -> bool {
        matches!(self.container.process().try_wait(), Ok(None))
    }

    pub(super) fn discard(self) {
        let _ = std::fs::remove_file(&self.cidfile);
        self.container.end(Ending::Kill);
    }
}

impl PodmanSandbox {
    pub fn new(
        engine: Engine,
        gate: Arc<Gate>,
        runner: PathBuf,
        instance: String,
        output_limit: usize,
        userns: UserNamespace,
        pool_size: usize,
    ) -> Self {
        let inner = Arc::new(Inner {
            engine,
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

    /// Starts `podman run` for one container of `key`, holding `permit`.
    pub(super) fn spawn(
        &self,
        key: &PoolKey,
        permit: OwnedSemaphorePermit,
    ) -> Result<Spawned, SandboxError> {
        let name = self.container_name();
        let cidfile = self.engine.cid_path(&name);
        let args = policy::run_args(&Plan {
            name: &name,
            instance: &self.instance,
            image: &key.image,
            runner: &self.runner,
            cidfile: &cidfile,
            userns: self.userns,
            limits: key.limits,
        });
        let mut cmd = self.engine.command();
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.engine.mark_live(&name);
        let process = match cmd.spawn() {
            Ok(process) => process,
            Err(e) => {
                self.engine.mark_gone(&name);
                return Err(SandboxError::Spawn(e));
            }
        };
        let mut container = LiveContainer::new(self.engine.clone(), name, process, permit);
        let stdin = container.process().stdin.take().expect("stdin is piped");
        let stdout = container.process().stdout.take().expect("stdout is piped");
        let stderr = container.process().stderr.take().expect("stderr is piped");
        Ok(Spawned {
            container,
            stdin,
            stdout,
            podman_stderr: tokio::spawn(read_capped(stderr, PODMAN_STDERR_CAP)),
            cidfile,
        })
    }

    async fn run_job(self: &Arc<Self>, spec: RunSpec) -> Result<RunOutcome, SandboxError> {
        let permit = self.gate.enter().await?;
        let key = PoolKey {
            image: spec.image.clone(),
            limits: spec.limits,
        };
        let spawned = match self.pool.take(&key) {
            Some(mut warm) => {
                warm.container.replace_permit(permit);
                warm
            }
            None => self.spawn(&key, permit)?,
        };
        Pool::refill(self, key);
        self.drive(spawned, spec).await
    }

    /// Hands the job to a spawned container and gathers its outcome.
    async fn drive(&self, spawned: Spawned, spec: RunSpec) -> Result<RunOutcome, SandboxError> {
        let Spawned {
            mut container,
            mut stdin,
            mut stdout,
            podman_stderr,
            cidfile,
        } = spawned;
        let name = container.name().to_owned();
        let handed_at = Instant::now();
        let job = job_bytes(&spec);
        // stdin stays open after the job: after its exit frame the runner
        // waits for it to close, so that the cgroup can still be read.
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = stdin.write_all(&job).await;
            let _ = released.await;
        });
        let usage = || {
            let id = std::fs::read_to_string(&cidfile).unwrap_or_default();
            let _ = std::fs::remove_file(&cidfile);
            cgroup::usage(id.trim())
        };

        let collected = collect(&mut stdout, spec.timeout, self.output_limit).await;
        let container_age = handed_at.elapsed();
        let mut outcome = RunOutcome {
            container: name.clone(),
            container_age,
            ..RunOutcome::default()
        };
        match collected {
            Collected::Exit(output, report) => {
                outcome.set_usage(usage());
                drop(release);
                output.into_outcome(&mut outcome);
                outcome.exit_code = report.code;
                outcome.signal = report.signal;
                outcome.cpu_time = Some(Duration::from_micros(report.cpu_micros));
                container.end(Ending::Reported);
                Ok(outcome)
            }
            Collected::TimedOut(output) => {
                outcome.set_usage(usage());
                output.into_outcome(&mut outcome);
                outcome.timed_out = true;
                container.end(Ending::Kill);
                Ok(outcome)
            }
            Collected::Truncated(output) => {
                outcome.set_usage(usage());
                output.into_outcome(&mut outcome);
                outcome.truncated = true;
                outcome.signal = Some(9);
                container.end(Ending::Kill);
                Ok(outcome)
            }
            Collected::Ended(output) => {
                // The container ended without the runner's report: killed from
                // outside (the memory limit) or podman failed to start it.
                outcome.set_usage(usage());
                let status = container.wait_exit(FAILURE_REPORT_DEADLINE).await;
                let podman_err = podman_stderr.await.unwrap_or_default();
                if !output.started {
                    container.end(Ending::Kill);
                    return Err(classify_start_failure(&spec.image, &podman_err, status));
                }
                output.into_outcome(&mut outcome);
                match status.and_then(|s| s.code()) {
                    Some(code) if code > 128 => outcome.signal = Some(code - 128),
                    code => outcome.exit_code = code,
                }
                container.end(Ending::Kill);
                Ok(outcome)
            }
            Collected::Broken(reason) => {
                let _ = std::fs::remove_file(&cidfile);
                container.end(Ending::Kill);
                Err(SandboxError::Runner(reason))
            }
        }
    }
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

fn classify_start_failure(
    image: &str,
    podman_err: &[u8],
    status: Option<std::process::ExitStatus>,
) -> SandboxError {
    let text = String::from_utf8_lossy(podman_err).trim().to_owned();
    if text.contains("image not known") || text.contains("no such image") {
        return SandboxError::ImageMissing {
            image: image.to_owned(),
        };
    }
    SandboxError::Engine(format!(
        "container ended before the program started (status {status:?}): {text}"
    ))
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

async fn read_capped(mut stream: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
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
