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
//! Auth: the master key in `X-Master-Key` (a gateway adds it; refused, 403,
//! on a request with an `Origin`, which only browsers send), or, for a
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
use super::piston::request::prepare;
use super::piston::response::StageResult;
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
/// An interactive run over a WebSocket (Piston's messages); the key, or a
/// ticket as the subprotocol `whipcode.ticket.<ticket>`.
#[utoipa::path(get, path = "/connect", tag = "piston", operation_id = "connect",
    responses(crate::api::openapi::wire::PistonUpgrade),
    security(("master_key" = [])))]
pub async fn piston(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, PistonError> {
    Ok(upgrade(state, request, Dialect::Piston).await?)
}

/// `GET /connect`: refusals in whipcode's shape.
/// An interactive run over a WebSocket (whipcode's messages).
#[utoipa::path(get, path = "/connect", tag = "whipcode", operation_id = "connect",
    responses(crate::api::openapi::wire::WhipcodeUpgrade),
    security(("master_key" = [])))]
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
    let browser = parts.headers.contains_key(header::ORIGIN);
    let credential = if parts.headers.contains_key("x-master-key") {
        // A browser never holds the key: one that arrives with it was added
        // by a gateway, for a page that may be anyone's.
        if browser {
            return Err(ApiError::CrossOrigin(
                "a browser opens an interactive session with a ticket (POST /tickets), not the master key",
            ));
        }
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
    // The session keeps its connection's place among the open connections
    // (and its client's), and hears of a shutdown through it.
    let slot = parts.extensions.get::<ConnectionSlot>().cloned();
    Ok(upgrade
        .protocols(["whipcode"])
        .max_message_size(usize::try_from(state.max_bytes).unwrap_or(usize::MAX))
        .on_upgrade(move |socket| async move {
            session(state, socket, credential, dialect, slot).await;
        })
        .into_response())
}

async fn session(
    state: AppState,
    mut socket: WebSocket,
    credential: Credential,
    dialect: Dialect,
    slot: Option<ConnectionSlot>,
) {
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
    let stopping = async {
        match &slot {
            Some(slot) => slot.stopping().await,
            None => std::future::pending().await,
        }
    };
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

/// Most client messages waiting for the run to take them, and most signals
/// a session may send.
const MAX_PENDING: usize = 256;
const MAX_SIGNALS: usize = 64;

/// Why a client message ends the session.
enum Refusal {
    Close(u16, &'static str),
    Notify(String),
}

/// The client's input, checked and held until the run takes it: bounded
/// in bytes (`--max-bytes` of stdin a session), in messages waiting, and in
/// signals; empty pieces and a second end of stdin are dropped.
struct Feed {
    pending: std::collections::VecDeque<Input>,
    stdin_left: u64,
    stdin_cap: u64,
    signals: usize,
    ended: bool,
}

impl Feed {
    fn new(stdin_cap: u64) -> Feed {
        Feed {
            pending: std::collections::VecDeque::new(),
            stdin_left: stdin_cap,
            stdin_cap,
            signals: 0,
            ended: false,
        }
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn next(&mut self) -> Option<Input> {
        self.pending.pop_front()
    }

    fn take(&mut self, message: &Value) -> Result<(), Refusal> {
        let input = match message.get("type").and_then(Value::as_str) {
            Some("init") => return Err(Refusal::Close(4000, "Already Initialized")),
            Some("data") => {
                if message.get("stream").and_then(Value::as_str) != Some("stdin") {
                    return Err(Refusal::Close(4004, "Can only write to stdin"));
                }
                let data = message
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.stdin_left =
                    self.stdin_left
                        .checked_sub(data.len() as u64)
                        .ok_or_else(|| {
                            Refusal::Notify(format!(
                                "stdin is over {} bytes for this session",
                                self.stdin_cap
                            ))
                        })?;
                if data.is_empty() || self.ended {
                    return Ok(());
                }
                Input::Stdin(data.as_bytes().to_vec())
            }
            Some("eof") if self.ended => return Ok(()),
            Some("eof") => {
                self.ended = true;
                Input::EndOfStdin
            }
            Some("signal") => {
                let named = message.get("signal").and_then(Value::as_str);
                let Some(n) = named.and_then(signal_number) else {
                    return Err(Refusal::Close(4005, "Invalid signal"));
                };
                self.signals += 1;
                if self.signals > MAX_SIGNALS {
                    return Err(Refusal::Notify(format!(
                        "more than {MAX_SIGNALS} signals in one session"
                    )));
                }
                Input::Signal(n)
            }
            // Piston ignores what it does not know; so does this.
            _ => return Ok(()),
        };
        if self.pending.len() >= MAX_PENDING {
            return Err(Refusal::Notify(
                "input is arriving faster than the program takes it".into(),
            ));
        }
        self.pending.push_back(input);
        Ok(())
    }
}

/// What goes to the client: `data` as text, a character split between two
/// chunks kept whole, and the stages whose `exit` was sent.
#[derive(Default)]
struct Outgoing {
    exited: Vec<String>,
    /// An incomplete UTF-8 character at the end of the last stdout and
    /// stderr chunk, completed by the next.
    carry: [Vec<u8>; 2],
}

impl Outgoing {
    async fn forward(
        &mut self,
        socket: &mut WebSocket,
        event: LiveEvent,
    ) -> Result<(), axum::Error> {
        let message = match event {
            LiveEvent::Stage(name) => json!({"type": "stage", "stage": name}),
            LiveEvent::Stdout(bytes) | LiveEvent::Stderr(bytes) if bytes.is_empty() => {
                return Ok(())
            }
            LiveEvent::Stdout(bytes) => {
                let data = self.text(0, &bytes);
                if data.is_empty() {
                    return Ok(());
                }
                json!({"type": "data", "stream": "stdout", "data": data})
            }
            LiveEvent::Stderr(bytes) => {
                let data = self.text(1, &bytes);
                if data.is_empty() {
                    return Ok(());
                }
                json!({"type": "data", "stream": "stderr", "data": data})
            }
            LiveEvent::StageEnd { name, code, signal } => {
                let message = json!({"type": "exit", "stage": name, "code": code,
                                     "signal": signal.map(signal_name)});
                self.exited.push(name);
                message
            }
        };
        send(socket, &message).await
    }

    /// `bytes` after the stream's carry, as text; an incomplete character
    /// at the end waits for the next chunk, invalid bytes are U+FFFD.
    fn text(&mut self, stream: usize, bytes: &[u8]) -> String {
        let mut all = std::mem::take(&mut self.carry[stream]);
        all.extend_from_slice(bytes);
        let keep = incomplete_tail(&all);
        self.carry[stream] = all.split_off(keep);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Where an incomplete character at the end of `bytes` starts (its length
/// when the end is complete); anything invalid is left for U+FFFD.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let at = bytes.len() - back;
        let b = bytes[at];
        if b & 0xC0 != 0x80 {
            let needed = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { at } else { bytes.len() };
        }
    }
    bytes.len()
}

/// Piston's `init`: the job, and the `runtime` message naming its runtime.
async fn piston_init(state: &AppState, init: &Value) -> Result<(Job, Value), ApiError> {
    let execute = prepare(state, init).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_between_chunks_arrives_whole() {
        let mut out = Outgoing::default();
        let e_acute = "é".as_bytes();
        assert_eq!(out.text(0, &[b'a', e_acute[0]]), "a");
        assert_eq!(out.text(1, b"err"), "err", "each stream its own carry");
        assert_eq!(out.text(0, &[e_acute[1], b'b']), "éb");
        let snowman = "☃".as_bytes();
        assert_eq!(out.text(0, &snowman[..1]), "");
        assert_eq!(out.text(0, &snowman[1..2]), "");
        assert_eq!(out.text(0, &snowman[2..]), "☃");
        // Invalid bytes are U+FFFD, not held back.
        assert_eq!(out.text(0, &[0xff, b'x']), "\u{fffd}x");
    }

    #[test]
    fn input_is_bounded_in_bytes_messages_and_signals() {
        let data = |d: &str| json!({"type": "data", "stream": "stdin", "data": d});
        let mut feed = Feed::new(10);
        assert!(feed.take(&data("12345")).is_ok());
        assert!(feed.take(&data("")).is_ok());
        assert_eq!(feed.pending.len(), 1, "an empty piece is dropped");
        assert!(matches!(
            feed.take(&data("123456")),
            Err(Refusal::Notify(_))
        ));
        let mut feed = Feed::new(1 << 20);
        for _ in 0..MAX_SIGNALS {
            assert!(feed
                .take(&json!({"type": "signal", "signal": "SIGCONT"}))
                .is_ok());
        }
        assert!(matches!(
            feed.take(&json!({"type": "signal", "signal": "SIGCONT"})),
            Err(Refusal::Notify(_))
        ));
        let mut feed = Feed::new(1 << 20);
        for _ in 0..MAX_PENDING {
            assert!(feed.take(&data("x")).is_ok());
        }
        assert!(matches!(feed.take(&data("x")), Err(Refusal::Notify(_))));
        let mut feed = Feed::new(1 << 20);
        assert!(feed.take(&json!({"type": "eof"})).is_ok());
        assert!(feed.take(&json!({"type": "eof"})).is_ok());
        assert!(feed.take(&data("late")).is_ok());
        assert_eq!(
            feed.pending,
            [Input::EndOfStdin],
            "once, and nothing after it"
        );
        assert!(matches!(
            feed.take(&json!({"type": "signal", "signal": "SIGNOPE"})),
            Err(Refusal::Close(4005, _))
        ));
    }
}
