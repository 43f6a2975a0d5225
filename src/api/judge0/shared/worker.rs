//! One worker of this instance on the shared queue: it writes what waited
//! for Redis, takes the next entry ([`super::take`]), runs it as every
//! backend does, sends its callback, and writes its final result; while it
//! runs and calls back, it renews its hold on the entry, so no other
//! instance takes it over while this one lives.
//!
//! The callback goes before the result is written: a crash between the
//! two leaves the entry to be run again elsewhere, and the callback sent
//! again (at least once, as long as the receiver answers one of its tries;
//! its body carries the token). An instance that finds the result already
//! written (another instance ran it too, after a takeover) sends none.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use url::Url;

use super::connection::Shared;
use super::instance::{Instance, Running};
use super::job::Job;
use super::records::entry_age;
use super::take::Taken;
use crate::api::judge0::backend::run_submission;
use crate::api::judge0::callback::Callbacks;
use crate::api::judge0::config::Config;
use crate::api::judge0::files::unpacking_turn;
use crate::api::judge0::flavor::Flavor;
use crate::api::judge0::request::Submission;
use crate::api::judge0::response::{timestamp, Shown};
use crate::api::judge0::verdict::Status;
use crate::api::judge0::view::View;
use crate::api::state::AppState;

/// How long a worker waits in Redis for a new entry before it looks again
/// (for entries to take over, and whether it is stopping).
const BLOCK: Duration = Duration::from_secs(2);

/// How long a worker waits before asking again after Redis failed.
const RETRY: Duration = Duration::from_millis(500);

/// A submission taken over this many times (each time the instance that
/// ran it went quiet) is not run again: it is finished as an Internal
/// Error, so that a submission that kills its instances cannot kill them all.
const MOST_DELIVERIES: u64 = 5;

/// The worker's loop, until the instance stops.
pub(super) async fn work(state: AppState, instance: Arc<Instance>, callbacks: Callbacks) {
    let mut conn: Option<ConnectionManager> = None;
    while !instance.stopping() {
        let Ok(shared) = instance.connection() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        instance.unwritten.write_to(shared).await;
        let Some(dedicated) = conn.as_mut() else {
            conn = shared.dedicated().await.ok();
            if conn.is_none() {
                tokio::time::sleep(RETRY).await;
            }
            continue;
        };
        let settings = &instance.settings;
        let taken = shared
            .take_waiting(dedicated, &settings.consumer, settings.claim_after, BLOCK)
            .await;
        match taken {
            // Taken while stopping: another instance runs it.
            Ok(Some(taken)) if instance.stopping() => {
                let _ = shared
                    .release(&settings.consumer, &taken.id, settings.claim_after)
                    .await;
            }
            Ok(Some(taken)) => run(&state, &instance, shared, &callbacks, taken).await,
            Ok(None) => {}
            // A Redis that kept nothing restarted: the group is made again.
            Err(e) if e.code() == Some("NOGROUP") => {
                let _ = shared.ensure_group().await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "a Judge0 worker could not read the shared queue");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// What a taken entry came to.
struct Outcome {
    /// Its final result.
    view: View,
    /// Where to call back (none: nowhere, or written by another instance).
    callback: Option<Url>,
    /// How `GET /statistics` counts it, when this instance ran it.
    counted: Option<(Flavor, u32, String, Status)>,
}

impl Outcome {
    /// Finished by another instance: only acknowledged here.
    fn elsewhere(view: View) -> Outcome {
        Outcome {
            view,
            callback: None,
            counted: None,
        }
    }

    /// Not run: Judge0's Internal Error saying `why`.
    fn refused(pending: Option<View>, token: &str, why: &str, callback: Option<Url>) -> Outcome {
        let at = timestamp(time::OffsetDateTime::now_utc());
        let base = pending.unwrap_or_else(|| View::of_token(token));
        Outcome {
            view: base.refused(why, &at),
            callback,
            counted: None,
        }
    }
}

/// Runs one taken entry to its written (or kept) final result, holding it
/// all the while.
async fn run(
    state: &AppState,
    instance: &Instance,
    shared: &Shared,
    callbacks: &Callbacks,
    taken: Taken,
) {
    let _running = Running::start(instance, &taken.id);
    let settings = &instance.settings;
    let hold = hold(shared, &settings.consumer, &taken.id, settings.claim_after);
    tokio::pin!(hold);
    let outcome = tokio::select! {
        outcome = outcome(state, instance, shared, &taken) => outcome,
        never = &mut hold => match never {},
    };
    let token = taken.token.as_str();
    let written_elsewhere = matches!(shared.read(token).await, Ok(Some(v)) if v.is_final());
    if let Some(url) = outcome.callback.filter(|_| !written_elsewhere) {
        let body = outcome.view.callback_body();
        tokio::select! {
            _ = callbacks.deliver(url, body) => {}
            never = &mut hold => match never {},
        }
    }
    let ours = write(instance, shared, &taken, outcome.view).await;
    if let Some((flavor, id, name, status)) = outcome.counted.filter(|_| ours) {
        instance.count(flavor, id, &name, status);
    }
}

/// What `taken` comes to: run here, refused, or finished elsewhere.
async fn outcome(state: &AppState, instance: &Instance, shared: &Shared, taken: &Taken) -> Outcome {
    let token = taken.token.as_str();
    let pending = match shared.read(token).await {
        Ok(Some(view)) if view.is_final() => return Outcome::elsewhere(view),
        Ok(view) => view,
        Err(_) => None,
    };
    let job = match Job::from_json(&taken.job) {
        Ok(job) => job,
        Err(why) => return Outcome::refused(pending, token, &why, None),
    };
    let callback = job.callback_url.as_deref().and_then(|u| u.parse().ok());
    if taken.deliveries > MOST_DELIVERIES {
        let why = format!(
            "this submission was taken over {} times: the instances running it stopped",
            taken.deliveries - 1
        );
        return Outcome::refused(pending, token, &why, callback);
    }
    let submission = match prepare(state, instance, &job).await {
        Ok(submission) => submission,
        Err(why) => return Outcome::refused(pending, token, &why, callback),
    };
    if let Some(view) = pending {
        let _ = shared.processing(token, view).await;
    }
    let queue_wait = entry_age(&taken.id).unwrap_or_default();
    let verdict = run_submission(state, token, &submission, queue_wait).await;
    let at = timestamp(time::OffsetDateTime::now_utc());
    let view = View::of(&Shown {
        token,
        submission: &submission,
        verdict: &verdict,
        language_name: &job.language_name,
        created_at: &job.created_at,
        finished_at: Some(&at),
    });
    Outcome {
        view,
        callback: submission.callback_url.clone(),
        counted: Some((
            submission.flavor,
            submission.language_id,
            job.language_name,
            verdict.status,
        )),
    }
}

/// `job` prepared again off the async runtime (it may unpack an archive),
/// in its turn among the unpackers, as the handlers prepare it.
async fn prepare(state: &AppState, instance: &Instance, job: &Job) -> Result<Submission, String> {
    let turn = match job.has_archive() {
        true => loop {
            if let Some(turn) = unpacking_turn().await {
                break Some(turn);
            }
        },
        false => None,
    };
    let config = Config::of(state, Some(instance.config));
    let (state, job) = (state.clone(), job.clone());
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        job.prepare(&state, &config)
    })
    .await
    .map_err(|e| format!("preparing this submission failed: {e}"))?
}

/// Writes `view`, the final result of `taken`, and acknowledges its entry;
/// kept for later when Redis does not answer. Whether it is this result
/// that stands (written, or kept to be written).
async fn write(instance: &Instance, shared: &Shared, taken: &Taken, view: View) -> bool {
    match shared.finish(&taken.token, &view, Some(&taken.id)).await {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(token = %taken.token, error = %e,
                "a Judge0 result could not be written to Redis: kept until it answers");
            instance.unwritten.keep(&taken.token, view, Some(&taken.id));
            true
        }
    }
}

/// Renews `consumer`'s hold on entry `id` three times per `claim_after`,
/// for as long as it is polled.
async fn hold(shared: &Shared, consumer: &str, id: &str, claim_after: Duration) -> Infallible {
    let every = (claim_after / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = shared.renew(consumer, id).await {
            tracing::debug!(error = %e, "a Judge0 worker could not renew its hold");
        }
    }
}
