//! The podman engine: containers created, attached to, started, inspected
//! and removed through podman's REST service (conmon and runc under it).
//! The runner's stdout and stderr come multiplexed in podman's attach
//! stream, split here within the container's budget.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf};

use super::api::{read_frame, AttachStream, Frame, PodmanApi, PodmanError};
use crate::cgroup::Cgroup;
use crate::engine::{Budget, Demuxed, Engine, Labels, Launched, EVENT_BUFFER, STDERR_CAP};
use crate::error::EngineError;
use crate::job::{BoxFuture, SandboxError};
use crate::naming::PROJECT_LABEL;
use crate::policy::{self, Plan};

/// Longest podman may take to create or start a container (slow under load).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline of one listing or removal call.
const CALL_DEADLINE: Duration = Duration::from_secs(30);

pub struct PodmanEngine {
    api: PodmanApi,
}

impl PodmanEngine {
    pub fn new(api: PodmanApi) -> PodmanEngine {
        PodmanEngine { api }
    }

    async fn create_and_start(
        &self,
        plan: &Plan<'_>,
        budget: Budget,
    ) -> Result<Launched, SandboxError> {
        let spec = policy::container_spec(plan);
        let id = self
            .api
            .create(&spec, START_DEADLINE)
            .await
            .map_err(|e| classify_create_failure(plan.image, e))?;
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
        let api = self.api.clone();
        let cgroup = Cgroup::of_podman(&id);
        Ok(Launched {
            cgroup,
            stdin: Box::pin(stdin),
            events,
            demux: tokio::spawn(demux(read, events_in, budget)),
            exit: Box::new(move |patience| Box::pin(exit_code(api, id, patience))),
        })
    }
}

impl Engine for PodmanEngine {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn start<'a>(
        &'a self,
        plan: &'a Plan<'a>,
        budget: Budget,
    ) -> BoxFuture<'a, Result<Launched, SandboxError>> {
        Box::pin(self.create_and_start(plan, budget))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move { Ok(self.api.remove(name, CALL_DEADLINE).await?) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, Labels)>, EngineError>> {
        Box::pin(async move {
            Ok(self
                .api
                .containers_with_labels(PROJECT_LABEL, CALL_DEADLINE)
                .await?)
        })
    }
}

/// The exit code of a container that has stopped within `patience`.
async fn exit_code(api: PodmanApi, id: String, patience: Duration) -> Option<i32> {
    let give_up = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < give_up {
        let (running, code) = api.state(&id, patience).await.ok()?;
        if !running {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
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
            return Demuxed {
                stderr,
                over_budget: Some(budget.over()),
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
    SandboxError::Engine(e.into())
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
