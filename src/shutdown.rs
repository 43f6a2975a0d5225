//! The shutdown, in the order a load balancer sees it: the signal (SIGINT
//! or SIGTERM); the drain grace, while `/ready` answers 503 and the
//! listener still serves, so that the balancer's checks take the instance
//! out first; then (in `server`) the listener stops and open requests
//! finish; then Judge0's accepted submissions get the drain deadline.

use std::time::Duration;

use crate::api;

/// SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// The start of a shutdown, as a load balancer sees it: `/ready` answers
/// 503 from now on (`draining`) while the listener still serves for
/// `grace`, long enough for the balancer's health checks to take this
/// instance out before it stops listening (or until `cut_short`). When
/// this returns, [`crate::server::run`] stops accepting and lets open
/// connections finish.
pub async fn drain_grace(
    draining: api::draining::Draining,
    grace: Duration,
    cut_short: impl std::future::Future<Output = ()>,
) {
    draining.begin();
    if !grace.is_zero() {
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "draining: /ready answers 503 while new requests are still served"
        );
        tokio::select! {
            () = tokio::time::sleep(grace) => {}
            () = cut_short => tracing::info!("a second signal: the drain grace is cut short"),
        }
    }
    tracing::info!("no longer accepting connections: finishing in-flight runs");
}

/// Requests have finished; accepted Judge0 submissions get the drain
/// deadline. What is still queued then is lost with the embedded store;
/// the shared one (`--store`) lets it go for other instances to take over.
pub async fn drain_judge0(judge0: &api::judge0::queue::Service, deadline: Duration) {
    let api::judge0::queue::Drained { lost, handed_over } = judge0.drain(deadline).await;
    if handed_over > 0 {
        tracing::info!(
            handed_over,
            "shutdown: unfinished Judge0 submissions were let go for other instances to run"
        );
    }
    if lost > 0 {
        tracing::warn!(
            lost,
            "shutdown: Judge0 submissions still queued or running were lost"
        );
        eprintln!("whipcode: {lost} queued Judge0 submissions were lost at shutdown");
    } else if handed_over == 0 {
        tracing::info!("shutdown: every accepted Judge0 submission finished");
    }
}
