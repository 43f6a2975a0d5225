//! What every backend of Judge0's asynchronous API shares: what it is
//! sized by ([`QueueSettings`]), what it takes ([`Accepted`]), how it
//! refuses ([`Refusal`]), and how its workers run one submission
//! ([`run_submission`]), so that a submission runs and is judged the same
//! whichever backend queued it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::error::Judge0Error;
use super::flavor::Flavor;
use super::request::Submission;
use super::response::{judge, Verdict};
use super::store::Bounds;
use super::verdict::Status;
use crate::api::job::RunError;
use crate::api::metrics::Api;
use crate::api::state::AppState;

/// How the queue is sized, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Most submissions waiting or running.
    pub capacity: usize,
    pub workers: usize,
    pub store: Bounds,
}

/// A submission checked and ready to queue.
pub struct Accepted {
    pub submission: Arc<Submission>,
    /// The name Judge0's listing gives its language.
    pub language_name: String,
    /// Its request as received, when the backend keeps it (one whose
    /// other instances prepare it again: [`super::queue::Service::keeps_requests`]).
    pub received: Option<AsReceived>,
}

/// One submission's request as received: its body, the flavour of the base
/// path it came under and its `base64_encoded`.
pub struct AsReceived {
    pub body: serde_json::Value,
    pub flavor: Flavor,
    pub base64_encoded: bool,
}

/// What a shutdown left of the accepted submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Lost: still queued or running in this process's memory.
    pub lost: usize,
    /// Let go unfinished for other instances to run (the shared store).
    pub handed_over: usize,
}

/// Why submissions were not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The queue or the store has no room for them all: Judge0's 503.
    Full,
    /// The backend cannot be reached; why, for the client.
    Unavailable(String),
}

impl From<Refusal> for Judge0Error {
    fn from(refusal: Refusal) -> Judge0Error {
        let message = match refusal {
            Refusal::Full => "queue is full".to_owned(),
            Refusal::Unavailable(why) => why,
        };
        Judge0Error::Message(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// Runs one queued submission through the sandbox, as every backend's
/// workers do: every container slot taken (by synchronous runs, say), it
/// waits its turn again rather than failing; the last try counts. Its
/// verdict, logged with `token` and how long it waited (`queue_wait`).
pub async fn run_submission(
    state: &AppState,
    token: &str,
    submission: &Submission,
    queue_wait: Duration,
) -> Verdict {
    let started = Instant::now();
    let in_flight = state.metrics.run_started(Api::Judge0);
    let outcome = loop {
        let outcome = submission
            .job
            .clone()
            .attempt(state.sandbox.as_ref(), state.limits, &state.images, None)
            .await;
        match outcome {
            Err(RunError::Busy { .. }) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other.map_err(crate::api::error::ApiError::from),
        }
    };
    state
        .metrics
        .run_finished(Api::Judge0, &submission.job.language.name, &outcome);
    drop(in_flight);
    let verdict = match &outcome {
        Ok(outcome) => judge(submission, outcome),
        Err(e) => Verdict::refused(&e.to_string()),
    };
    tracing::info!(
        %token,
        queue_wait_ms = queue_wait.as_millis() as u64,
        status = verdict.status.id(),
        run_ms = started.elapsed().as_millis() as u64,
        "judge0 submission finished"
    );
    verdict
}

impl Verdict {
    /// A submission that could not be run: Judge0's Internal Error, why in
    /// its message.
    pub fn refused(why: &str) -> Verdict {
        Verdict {
            message: Some(why.to_owned()),
            ..Verdict::pending(Status::InternalError)
        }
    }
}
