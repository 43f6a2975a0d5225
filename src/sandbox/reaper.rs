//! Removing this instance's leftover containers: at startup (after a crash or
//! `kill -9`), periodically (a removal that failed), and at shutdown. Only
//! containers labelled with this instance are touched, so several instances
//! and parallel test runs can share a host.

use std::time::Duration;

use super::engine::Engine;

/// How often the sweep looks for containers this process no longer tracks.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Removes every container of this instance that is not running a job now.
/// Returns how many were removed.
pub async fn sweep(engine: &Engine, instance: &str) -> Result<usize, String> {
    let names = engine.instance_containers(instance).await?;
    let mut removed = 0;
    for name in names.iter().filter(|n| !engine.is_live(n)) {
        engine.remove(name).await;
        removed += 1;
    }
    Ok(removed)
}

/// Sweeps forever, every [`SWEEP_EVERY`].
pub async fn sweep_periodically(engine: Engine, instance: String) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        match sweep(&engine, &instance).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(removed = n, "swept leftover containers"),
            Err(e) => tracing::warn!(error = %e, "container sweep failed"),
        }
    }
}
