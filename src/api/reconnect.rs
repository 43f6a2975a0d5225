//! Connecting to Redis in the background, for the parts of the service that
//! start without it (the shared result cache, the shared Judge0 store): tried
//! again every [`RETRY`] until it answers, the first failure logged once.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How often a connection is tried again while Redis does not answer.
pub const RETRY: Duration = Duration::from_secs(1);

/// `attempt` until it succeeds, while `wanted` says the connection is still
/// needed; `what` names the connection in the log ("the shared result
/// cache"), `meanwhile` what its absence means. `None`: no longer wanted.
pub async fn until_connected<T, E, Fut>(
    what: &str,
    meanwhile: &str,
    mut wanted: impl FnMut() -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Option<T>
where
    E: Display,
    Fut: Future<Output = Result<T, E>>,
{
    let mut logged = false;
    while wanted() {
        match attempt().await {
            Ok(connected) => {
                tracing::info!("connected to {what} (Redis)");
                return Some(connected);
            }
            Err(e) if !logged => {
                logged = true;
                tracing::warn!(error = %e, "{what} (Redis) does not answer yet: {meanwhile}");
            }
            Err(_) => {}
        }
        tokio::time::sleep(RETRY).await;
    }
    None
}
