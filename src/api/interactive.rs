//! Interactive runs over a WebSocket, in Piston's protocol: `GET
//! /api/v2/connect` takes Piston's `init` (the fields of `execute`), and
//! whipcode's own `GET /connect` takes whipcode's (`language_id`, `code` in
//! base64, `files`, `args`, `timeout`, `compile_timeout`, `env`); the
//! session is the same. The client sends `init` (the fields of `execute`) within 1 s;
//! the server answers `runtime`, then per stage `stage`, `data` as the
//! program writes, and `exit`; the client's `data` on `stdin` reaches the
//! running program, `signal` is delivered to it, and (whipcode's addition)
//! `{"type": "eof"}` closes its stdin. Close codes are Piston's: 4000
//! already initialised, 4001 initialisation timeout, 4002 notified error
//! (an `error` message first), 4003 not yet initialised, 4004 can only
//! write to stdin, 4005 invalid signal, 4999 job completed.
//!
//! Auth: the master key in `X-Master-Key` (a gateway adds it), or, for a
//! browser (which cannot set headers on a WebSocket), a ticket from
//! `POST /tickets`: offered as the subprotocol `whipcode.ticket.<ticket>`
//! beside `whipcode` (checked before the upgrade), or as `ticket` in `init`
//! (checked before anything runs). Never in the URL, never logged.
//!
//! Where Piston has holes, this has none: output is capped as everywhere
//! (the cap ends the run, and its `exit` says so before the close); closing
//! the socket drops the run, which kills it and removes its container; the
//! program's output waits for a client that does not read (bounded
//! channels, so nothing piles up in the server) while the run's deadline
//! still runs; stdin is capped at `--max-bytes` a session; the session as a
//! whole has a deadline.

use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::job::Job;
use super::piston::error::PistonError;
use super::piston::request::{validate, Context};
use super::piston::response::StageResult;
use super::piston::runtimes::for_lookup;
use super::request::{self, RunBody};
use crate::api::intake::keyed;
use crate::api::state::{admit, AppState};
use crate::listen::ConnectionSlot;
use crate::sandbox::{signal_name, Input, Interaction, LiveEvent, RunOutcome};
use crate::tickets::verify;

/// How long a client has to send `init`.
const INIT_WITHIN: Duration = Duration::from_secs(1);
/// A session's time beyond its stages' own limits (queueing, the container's start).
const SESSION_SLACK: Duration = Duration::from_secs(30);
/// Output events waiting for a slow client, and input waiting for the runner.
const EVENTS_QUEUED: usize = 16;
const INPUT_QUEUED: usize = 64;

/// The subprotocol a browser offers a ticket in: `whipcode.ticket.<ticket>`,
/// beside `whipcode`, which the server selects.
const TICKET_PROTOCOL: &str = "whipcode.ticket.";

/// Whether the session's client is known before its `init`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// The master key or a ticket came with the upgrade.
    Checked,
    /// Neither: `init` must carry a ticket, checked before anything runs.
    InInit,
}

/// Which API's `init` a session takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Piston,
    Whipcode,
}

/// `GET /api/v2/connect`: refusals in Piston's shape.
pub async fn piston(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, PistonError> {
    Ok(upgrade(state, request, Dialect::Piston).await?)
}

/// `GET /connect`: refusals in whipcode's shape.
pub async fn whipcode(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    upgrade(state, request, Dialect::Whipcode).await
}

async fn upgrade(
    state: AppState,
    request: Request,
    dialect: Dialect,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let offered = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TICKET_PROTOCOL))
        .map(str::to_owned);
    let credential = if parts.headers.contains_key("x-master-key") {
        keyed(&state, &parts).await?;
        Credential::Checked
    } else if let Some(ticket) = offered {
        admit(&state, &parts)?;
        verify(state.key.ticket_secret(), &ticket, SystemTime::now()).map_err(ApiError::from)?;
        Credential::Checked
    } else {
        admit(&state, &parts)?;
        Credential::InInit
    };
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|e| ApiError::bad(format!("not a WebSocket upgrade: {e}")))?;
    // The session keeps its connection's place among the open connections.
    let slot = parts.extensions.get::<ConnectionSlot>().cloned();
    Ok(upgrade
        .protocols(["whipcode"])
        .max_message_size(usize::try_from(state.max_bytes).unwrap_or(usize::MAX))
        .on_upgrade(move |socket| async move {
            session(state, socket, credential, dialect).await;
            drop(slot);
        })
        .into_response())
}

async fn session(state: AppState, mut socket: WebSocket, credential: Credential, dialect: Dialect) {
    let init = match tokio::time::timeout(INIT_WITHIN, next_message(&mut socket)).await {
        Err(_) => return close(socket, 4001, "Initialization Timeout").await,
        Ok(None) => return,
        Ok(Some(message)) => message,
    };
    match init.get("type").and_then(Value::as_str) {
        Some("init") => {}
        Some("data" | "signal" | "eof") => return close(socket, 4003, "Not yet initialized").await,
        _ => return notify(socket, "the first message must be init").await,
    }
    if credential == Credential::InInit {
        let ticket = init
            .get("ticket")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Err(e) = verify(state.key.ticket_secret(), ticket, SystemTime::now()) {
            let why = format!(
                "{e}: an interactive session needs the master key (X-Master-Key) or a ticket from POST /tickets"
            );
            return notify(socket, &why).await;
        }
    }
    let prepared = match dialect {
        Dialect::Piston => piston_init(&state, &init).await,
        Dialect::Whipcode => whipcode_init(&state, init),
    };
    let (job, runtime) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return notify(socket, &e.to_string()).await,
    };
    if send(&mut socket, &runtime).await.is_err() {
        return;
    }
    let deadline =
        tokio::time::Instant::now() + job.compile.timeout + job.run.timeout + SESSION_SLACK;
    let (input, input_rx) = mpsc::channel(INPUT_QUEUED);
    let (events_tx, mut events) = mpsc::channel(EVENTS_QUEUED);
    let run = job.run_with(
        state.sandbox.as_ref(),
        state.limits,
        &state.images,
        Some(Interaction {
            input: input_rx,
            events: events_tx,
        }),
    );
    tokio::pin!(run);
    let mut exited: Vec<String> = Vec::new();
    let mut stdin_left = state.max_bytes;
    loop {
        tokio::select! {
            outcome = &mut run => {
                // Everything the run reported before it ended, then its end.
                while let Ok(event) = events.try_recv() {
                    if forward(&mut socket, event, &mut exited).await.is_err() {
                        return;
                    }
                }
                return match outcome {
                    Ok(outcome) => finish(socket, &outcome, &exited).await,
                    Err(e) => notify(socket, &e.to_string()).await,
                };
            }
            Some(event) = events.recv() => {
                if forward(&mut socket, event, &mut exited).await.is_err() {
                    return;
                }
            }
            message = next_message(&mut socket) => {
                // The client's close (or a broken socket) drops the run:
                // its container is killed and removed.
                let Some(message) = message else { return };
                let kind = message.get("type").and_then(Value::as_str);
                let sent = match kind {
                    Some("init") => return close(socket, 4000, "Already Initialized").await,
                    Some("data") => {
                        if message.get("stream").and_then(Value::as_str) != Some("stdin") {
                            return close(socket, 4004, "Can only write to stdin").await;
                        }
                        let data = message.get("data").and_then(Value::as_str).unwrap_or_default();
                        let Some(left) = stdin_left.checked_sub(data.len() as u64) else {
                            let why = format!("stdin is over {} bytes for this session", state.max_bytes);
                            return notify(socket, &why).await;
                        };
                        stdin_left = left;
                        input.send(Input::Stdin(data.as_bytes().to_vec())).await
                    }
                    Some("eof") => input.send(Input::EndOfStdin).await,
                    Some("signal") => {
                        let named = message.get("signal").and_then(Value::as_str);
                        match named.and_then(signal_number) {
                            Some(n) => input.send(Input::Signal(n)).await,
                            None => return close(socket, 4005, "Invalid signal").await,
                        }
                    }
                    // Piston ignores what it does not know; so does this.
                    _ => Ok(()),
                };
                // The run has ended and no longer takes input: its end comes next.
                let _ = sent;
            }
            () = tokio::time::sleep_until(deadline) => {
                return notify(socket, "the session is over its time limit").await;
            }
        }
    }
}

/// Piston's `init`: the job, and the `runtime` message naming its runtime.
async fn piston_init(state: &AppState, init: &Value) -> Result<(Job, Value), ApiError> {
    let runtimes = for_lookup(state).await?;
    let execute = validate(
        init,
        &Context {
            runtimes: &runtimes,
            max_timeout: state.max_timeout,
            limits: state.limits,
            max_files: state.max_files,
        },
    )?;
    let runtime = json!({"type": "runtime", "language": execute.runtime.name(),
                         "version": execute.runtime.version.to_string()});
    Ok((execute.job, runtime))
}

/// whipcode's `init`: `POST /run`'s body (and its validation) with a `type`.
fn whipcode_init(state: &AppState, mut init: Value) -> Result<(Job, Value), ApiError> {
    if let Value::Object(fields) = &mut init {
        fields.remove("type");
        fields.remove("ticket");
    }
    let body: RunBody =
        serde_json::from_value(init).map_err(|e| ApiError::bad(format!("invalid init: {e}")))?;
    let run = body.validate(&request::Context {
        languages: &state.languages,
        max_timeout: state.max_timeout,
        max_files: state.max_files,
    })?;
    let runtime = json!({"type": "runtime", "language": run.language.name,
                         "language_id": run.language.id});
    Ok((run.into_job(), runtime))
}

/// The next text message as JSON; `None` when the client closed or the
/// socket broke. Pings are answered by the library; other frames are skipped.
async fn next_message(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(socket: &mut WebSocket, message: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(message.to_string().into())).await
}

async fn forward(
    socket: &mut WebSocket,
    event: LiveEvent,
    exited: &mut Vec<String>,
) -> Result<(), axum::Error> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let message = match event {
        LiveEvent::Stage(name) => json!({"type": "stage", "stage": name}),
        LiveEvent::Stdout(bytes) => {
            json!({"type": "data", "stream": "stdout", "data": text(&bytes)})
        }
        LiveEvent::Stderr(bytes) => {
            json!({"type": "data", "stream": "stderr", "data": text(&bytes)})
        }
        LiveEvent::StageEnd { name, code, signal } => {
            let message = json!({"type": "exit", "stage": name, "code": code,
                                 "signal": signal.map(signal_name)});
            exited.push(name);
            message
        }
    };
    send(socket, &message).await
}

/// The `exit` of a stage a limit ended (its status and message say which),
/// then the close.
async fn finish(mut socket: WebSocket, outcome: &RunOutcome, exited: &[String]) {
    let last = outcome.stages.len().saturating_sub(1);
    for (i, stage) in outcome.stages.iter().enumerate() {
        if exited.contains(&stage.name) {
            continue;
        }
        let result = StageResult::of(stage, (i == last).then_some(outcome));
        let message = json!({"type": "exit", "stage": stage.name, "code": result.code,
                             "signal": result.signal, "status": result.status,
                             "message": result.message});
        if send(&mut socket, &message).await.is_err() {
            return;
        }
    }
    close(socket, 4999, "Job Completed").await;
}

/// Piston's 4002: an `error` message, then the close.
async fn notify(mut socket: WebSocket, message: &str) {
    let _ = send(&mut socket, &json!({"type": "error", "message": message})).await;
    close(socket, 4002, "Notified Error").await;
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// `SIGTERM` → 15, as Piston names them.
fn signal_number(name: &str) -> Option<i32> {
    (1..=31).find(|&n| signal_name(n) == name)
}
