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

use super::drive::{drive, Driven};
use super::error::EngineError;
use super::gate::Gate;
use super::job::{
    BoxFuture, InstalledImage, Interaction, RunOutcome, RunSpec, Sandbox, SandboxError,
};
use super::launch::{ContainerKind, Launcher};
use super::podman::api::PodmanApi;
use super::pool::Pool;
use super::stats::{Counters, SandboxStats};
use crate::naming::VERSION_LABEL;

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
                drive(started, &spec, interaction.as_mut(), self.output_limit)
                    .await
                    .into_result(),
            );
        };
        Counters::bump(&self.counters.pool_hits);
        // The warm container trades the pool's slot for this run's; if it
        // died while waiting, the job goes to a fresh one.
        warm.container.replace_permit(permit);
        with_wait(
            match drive(warm, &spec, interaction.as_mut(), self.output_limit).await {
                Driven::Done(result) => *result,
                Driven::NeverStarted(e) => {
                    tracing::warn!(error = %e, "a warm container had died; starting a fresh one");
                    let permit = self.gate.enter().await?;
                    let started = self.launcher.start_detached(&kind, permit).await?;
                    drive(started, &spec, interaction.as_mut(), self.output_limit)
                        .await
                        .into_result()
                }
            },
        )
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
