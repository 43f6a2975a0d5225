//! A stage's limits set on the container's cgroup before the runner is
//! told to go (the go-ahead is this module's to send), and the kernel's
//! figures read back.

use bytes::Bytes;
use whipcode_runner::Control;

use super::cgroup::{self, Cgroup};
use super::events::{NotBegun, StageControl};
use super::job::StageSpec;

/// A stage's limits set on the container's cgroup before the runner is
/// told to go: its memory (at most the container's; the peak restarted).
/// Without a cgroup found, the container's limits hold for every stage.
pub struct StageLimits<'a> {
    cgroup: Option<Cgroup>,
    stages: &'a [StageSpec],
    container_mb: u32,
    to_runner: tokio::sync::mpsc::UnboundedSender<Bytes>,
}

impl<'a> StageLimits<'a> {
    pub fn new(
        cgroup: Option<Cgroup>,
        stages: &'a [StageSpec],
        container_mb: u32,
        to_runner: tokio::sync::mpsc::UnboundedSender<Bytes>,
    ) -> StageLimits<'a> {
        StageLimits {
            cgroup,
            stages,
            container_mb,
            to_runner,
        }
    }

    /// The kernel's figures for the whole run (none without a cgroup).
    pub fn usage(&self) -> cgroup::Usage {
        self.cgroup.as_ref().map(Cgroup::usage).unwrap_or_default()
    }
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
        let _ = self.to_runner.send(Control::Continue.encode().into());
        Ok(())
    }

    fn cpu_nanos(&self) -> Option<u64> {
        self.cgroup.as_ref()?.cpu_nanos()
    }

    fn memory_peak(&self) -> Option<u64> {
        self.cgroup.as_ref()?.memory_peak()
    }
}
