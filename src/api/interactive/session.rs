//! One interactive session: its `init` within [`INIT_WITHIN`], then the run,
//! with the client's input going in and the program's output coming out
//! until the run ends, the client leaves, the session's deadline passes or
//! the server shuts down.

use std::time::{Duration, SystemTime};

use axum::extract::ws::WebSocket;
use axum::http::HeaderValue;
use serde_json::Value;
use tokio::sync::mpsc;

use super::dialect::Dialect;
use super::frames::{close, finish, next_message, notify, send, Outgoing};
use super::input::{Feed, Refusal};
use crate::api::job::Job;
use crate::api::state::AppState;
use crate::listen::ConnectionSlot;
use crate::sandbox::Interaction;
use crate::tickets::{verify, TicketError};

/// How long a client has to send `init`.
const INIT_WITHIN: Duration = Duration::from_secs(1);
/// A session's time beyond its stages' own limits (queueing, the container's start).
const SESSION_SLACK: Duration = Duration::from_secs(30);
/// Output events waiting for a slow client, and input waiting for the runner.
const EVENTS_QUEUED: usize = 16;
const INPUT_QUEUED: usize = 64;

/// Whether the session's client is known before its `init`.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Credential {
    /// The master key or a ticket came with the upgrade.
    Checked,
    /// Neither: `init` must carry a ticket, checked before anything runs
    /// against the upgrade's `Origin`.
    InInit { origin: Option<HeaderValue> },
}

/// One session on an upgraded socket, from its `init` to its close.
pub(super) async fn session(
    state: AppState,
    socket: WebSocket,
    credential: Credential,
    dialect: Dialect,
    slot: Option<ConnectionSlot>,
) {
    let Some((socket, job)) = begin(&state, socket, credential, dialect).await else {
        return;
    };
    run(state, socket, job, slot).await;
}

/// The session's `init`, its ticket when the upgrade had none, and its job,
/// with the `runtime` message sent; `None` when the session ended there
/// (the client told why, if it is still there).
async fn begin(
    state: &AppState,
    mut socket: WebSocket,
    credential: Credential,
    dialect: Dialect,
) -> Option<(WebSocket, Job)> {
    let init = match tokio::time::timeout(INIT_WITHIN, next_message(&mut socket)).await {
        Err(_) => {
            close(socket, 4001, "Initialization Timeout").await;
            return None;
        }
        Ok(None) => return None,
        Ok(Some(message)) => message,
    };
    match init.get("type").and_then(Value::as_str) {
        Some("init") => {}
        Some("data" | "signal" | "eof") => {
            close(socket, 4003, "Not yet initialized").await;
            return None;
        }
        _ => {
            notify(socket, "the first message must be init").await;
            return None;
        }
    }
    if let Credential::InInit { origin } = credential {
        let ticket = init
            .get("ticket")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let presented = origin.as_ref().map(HeaderValue::as_bytes);
        if let Err(e) = verify(
            state.key.ticket_secret(),
            ticket,
            SystemTime::now(),
            presented,
        ) {
            let why = match e {
                TicketError::OtherOrigin { .. } => e.to_string(),
                _ => format!(
                    "{e}: an interactive session needs the master key (X-Master-Key) or a ticket from POST /tickets"
                ),
            };
            notify(socket, &why).await;
            return None;
        }
    }
    let (job, runtime) = match dialect.prepare(state, init).await {
        Ok(prepared) => prepared,
        Err(e) => {
            notify(socket, &e.to_string()).await;
            return None;
        }
    };
    if send(&mut socket, &runtime).await.is_err() {
        return None;
    }
    Some((socket, job))
}

/// The run, with the client's input fed to it and its events forwarded as
/// they happen, to its end (or the session's).
async fn run(state: AppState, mut socket: WebSocket, job: Job, slot: Option<ConnectionSlot>) {
    let deadline =
        tokio::time::Instant::now() + job.compile.timeout + job.run.timeout + SESSION_SLACK;
    let (input, input_rx) = mpsc::channel(INPUT_QUEUED);
    let (events_tx, mut events) = mpsc::channel(EVENTS_QUEUED);
    let run = job.run_with(
        &state,
        crate::api::metrics::Api::Interactive,
        Some(Interaction {
            input: input_rx,
            events: events_tx,
        }),
    );
    tokio::pin!(run);
    let mut out = Outgoing::default();
    let mut feed = Feed::new(state.max_bytes);
    let stopping = stopping(slot.as_ref());
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            outcome = &mut run => {
                // Everything the run reported before it ended, then its end.
                while let Ok(event) = events.try_recv() {
                    if out.forward(&mut socket, event).await.is_err() {
                        return;
                    }
                }
                return match outcome {
                    Ok(outcome) => finish(socket, &outcome, &out.exited).await,
                    Err(e) => notify(socket, &e.to_string()).await,
                };
            }
            Some(event) = events.recv() => {
                if out.forward(&mut socket, event).await.is_err() {
                    return;
                }
            }
            // Input goes on as the run takes it; the socket is read meanwhile.
            permit = input.reserve(), if feed.has_pending() => {
                if let (Ok(permit), Some(next)) = (permit, feed.next()) {
                    permit.send(next);
                }
            }
            message = next_message(&mut socket) => {
                // The client's close (or a broken socket) drops the run:
                // its container is killed and removed.
                let Some(message) = message else { return };
                match feed.take(&message) {
                    Ok(()) => {}
                    Err(Refusal::Close(code, reason)) => return close(socket, code, reason).await,
                    Err(Refusal::Notify(why)) => return notify(socket, &why).await,
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return notify(socket, "the session is over its time limit").await;
            }
            () = &mut stopping => {
                return notify(socket, "the server is shutting down").await;
            }
        }
    }
}

/// Resolves when the server shuts down (never for a session without a slot).
async fn stopping(slot: Option<&ConnectionSlot>) {
    match slot {
        Some(slot) => slot.stopping().await,
        None => std::future::pending().await,
    }
}
