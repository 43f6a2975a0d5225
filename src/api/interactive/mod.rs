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
//! beside `whipcode` (checked before the upgrade, and taken over any key a
//! gateway added), or as `ticket` in `init` (checked before anything
//! runs). A page's ticket opens sessions from its own origin only (see
//! [`crate::tickets`]). Never in the URL, never logged.
//!
//! Where Piston has holes, this has none: output is capped as everywhere
//! (the cap ends the run, and its `exit` says so before the close); closing
//! the socket drops the run, which kills it and removes its container; the
//! program's output waits for a client that does not read (bounded
//! channels, so nothing piles up in the server) while the run's deadline
//! still runs; stdin is capped at `--max-bytes` a session; the session as a
//! whole has a deadline.
//!
//! - [`session`]: one session, from its `init` to its close.
//! - [`dialect`]: whipcode's and Piston's `init`, each into a job.
//! - [`input`]: the client's input, checked and held until the run takes it.
//! - [`frames`]: the messages and close codes sent to the client.

mod dialect;
mod frames;
mod input;
mod session;

use std::time::SystemTime;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::piston::error::PistonError;
use crate::api::intake::{keyed, single_origin};
use crate::api::state::{admit, AppState};
use crate::listen::ConnectionSlot;
use crate::tickets::verify;
use dialect::Dialect;
use session::{session, Credential};

/// The subprotocol a browser offers a ticket in: `whipcode.ticket.<ticket>`,
/// beside `whipcode`, which the server selects.
const TICKET_PROTOCOL: &str = "whipcode.ticket.";

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

/// The key, or a ticket, checked (or left for `init` to carry), then the
/// upgrade to a session.
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
    let origin = single_origin(&parts.headers)?.cloned();
    let presented = origin.as_ref().map(HeaderValue::as_bytes);
    let credential = if let Some(ticket) = offered {
        // A ticket first: a gateway adds the key to a browser's upgrade
        // too, and the ticket says which page this is.
        admit(&state, &parts)?;
        verify(
            state.key.ticket_secret(),
            &ticket,
            SystemTime::now(),
            presented,
        )
        .map_err(ApiError::from)?;
        Credential::Checked
    } else if parts.headers.contains_key("x-master-key") {
        // A browser never holds the key: one that arrives with it was added
        // by a gateway, for a page that may be anyone's.
        if origin.is_some() {
            return Err(ApiError::CrossOrigin(
                "a browser opens an interactive session with a ticket (POST /tickets), not the master key",
            ));
        }
        keyed(&state, &parts).await?;
        Credential::Checked
    } else {
        admit(&state, &parts)?;
        Credential::InInit { origin }
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
