//! One worker of this instance on the shared queue: it writes what waited
//! for Redis, takes the next entry ([`super::take`]), runs it as every
//! backend does, sends its callback, and writes its final result; while it
//! runs and calls back, it renews its hold on the entry, so no other
//! instance takes it over while this one lives.
//!
//! The callback goes before the result is written: a crash between the
//! two leaves the entry to be run again elsewhere, and the callback sent
//! again (at least once; its body carries the token). An instance that
//! finds the result already written (another instance ran it too, after a
//! takeover) sends none.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::connection::Shared;
use super::instance::Instance;
use super::job::Job;
use super::records::entry_age;
use super::take::Taken;
use crate::api::judge0::backend::run_submission;
use crate::api::judge0::callback::Callbacks;
use crate::api::judge0::config::Config;
use crate::api::judge0::request::Submission;
use crate::api::judge0::response::{callback_body, timestamp, Shown};
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

/// The worker's loop, until the queue stops.
pub(super) async fn work(state: AppState, instance: Arc<Instance>, callbacks: Callbacks) {
    let mut conn: Option<ConnectionManager> = None;
    while !instance.stopping() {
        let Ok(shared) = instance.connection() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        instance.unwritten.write_to(shared).await;
        let taken = match conn.as_mut() {
            Some(conn) => {
                let consumer = &instance.settings.consumer;
                let claim_after = instance.settings.claim_after;
                shared
                    .take_waiting(conn, consumer, claim_after, BLOCK)
                    .await
            }
            None => {
                conn = shared.dedicated().await.ok();
                if conn.is_none() {
                    tokio::time::sleep(RETRY).await;
                }
                continue;
            }
        };
        match taken {
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

/// Counts a run in [`Instance::running`] while it lives.
struct Running<'a>(&'a Instance);

impl<'a> Running<'a> {
    fn start(instance: &'a Instance) -> Running<'a> {
        instance.running.fetch_add(1, Ordering::SeqCst);
        Running(instance)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs one taken entry to its written (or kept) final result.
async fn run(
    state: &AppState,
    instance: &Instance,
    shared: &Shared,
    callbacks: &Callbacks,
    taken: Taken,
) {
    let _running = Running::start(instance);
    let (job, submission) = match prepared(state, instance, shared, &taken).await {
        Ok(prepared) => prepared,
        Err(view) => return write(instance, shared, &taken, view).await,
    };
    let token = taken.token.as_str();
    let queue_wait = entry_age(&taken.id).unwrap_or_default();
    let settings = &instance.settings;
    let hold = hold(shared, &settings.consumer, &taken.id, settings.claim_after);
    tokio::pin!(hold);
    let verdict = tokio::select! {
        verdict = run_submission(state, token, &submission, queue_wait) => verdict,
        never = &mut hold => match never {},
    };
    let at = timestamp(time::OffsetDateTime::now_utc());
    let view = View::of(&Shown {
        token,
        submission: &submission,
        verdict: &verdict,
        language_name: &job.language_name,
        created_at: &job.created_at,
        finished_at: Some(&at),
    });
    let written_elsewhere = matches!(shared.read(token).await, Ok(Some(v)) if v.is_final());
    let url = submission.callback_url.clone();
    if let Some(url) = url.filter(|_| !written_elsewhere) {
        let body = callback_body(token, &submission, &verdict, &at);
        tokio::select! {
            _ = callbacks.deliver(url, body) => {}
            never = &mut hold => match never {},
        }
    }
    let (flavor, id) = (submission.flavor, submission.language_id);
    instance.count(flavor, id, &job.language_name, verdict.status);
    drop(submission);
    write(instance, shared, &taken, view).await;
}

/// The job of `taken` and its submission as this instance prepares it,
/// shown as Processing; or the final result it gets instead: the one
/// another instance wrote (after a takeover), or Judge0's Internal Error
/// saying why it cannot be run.
async fn prepared(
    state: &AppState,
    instance: &Instance,
    shared: &Shared,
    taken: &Taken,
) -> Result<(Job, Submission), View> {
    let token = taken.token.as_str();
    let pending = match shared.read(token).await {
        Ok(Some(view)) if view.is_final() => return Err(view),
        Ok(view) => view,
        Err(_) => None,
    };
    let refused = |why: &str| {
        let at = timestamp(time::OffsetDateTime::now_utc());
        let base = pending.clone().unwrap_or_else(|| View::of_token(token));
        base.refused(why, &at)
    };
    if taken.deliveries > MOST_DELIVERIES {
        return Err(refused(&format!(
            "this submission was taken over {} times: the instances running it stopped",
            taken.deliveries - 1
        )));
    }
    let job = Job::from_json(&taken.job).map_err(|why| refused(&why))?;
    let config = Config::of(state, Some(instance.config));
    let submission = job.prepare(state, &config).map_err(|why| refused(&why))?;
    if let Some(view) = pending {
        let _ = shared.processing(token, view).await;
    }
    Ok((job, submission))
}

/// Writes `view`, the final result of `taken`, and acknowledges its entry;
/// kept for later when Redis does not answer.
async fn write(instance: &Instance, shared: &Shared, taken: &Taken, view: View) {
    if let Err(e) = shared.finish(&taken.token, &view, Some(&taken.id)).await {
        tracing::warn!(token = %taken.token, error = %e,
            "a Judge0 result could not be written to Redis: kept until it answers");
        instance.unwritten.keep(&taken.token, view, Some(&taken.id));
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
