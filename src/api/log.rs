//! One structured log line per request, and `X-Request-Id` echoed or made.
//! Never logs the key, the code, stdin or env values.
//!
//! Hand-written rather than tower-http's request-id and trace layers: those
//! echo any id a client sends (this keeps only 1–128 printable ASCII
//! characters, so a client cannot put control bytes or a megabyte into the
//! log), and the trace layer's events carry no container name or
//! Server-Timing split; one small middleware does all of it in one place.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID: &str = "x-request-id";

/// Set by a handler on its response to name the container that served it.
#[derive(Debug, Clone)]
pub struct ContainerName(pub String);

/// Set by a handler on its response: time spent waiting on the sandbox.
#[derive(Debug, Clone, Copy)]
pub struct SandboxTime(pub std::time::Duration);

/// Response header with the server's own time and the sandbox's, in ms.
pub const SERVER_TIMING: &str = "server-timing";

/// Logs and counts the request after it is answered and puts its id on
/// the response.
pub async fn log_requests(
    State(state): State<super::state::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    let total = started.elapsed();
    state
        .metrics
        .request_answered(route.as_deref(), response.status().as_u16(), total);
    if let Some(SandboxTime(sandbox)) = response.extensions().get::<SandboxTime>().copied() {
        // The server's own time (auth, parsing, JSON) is what is left when
        // the sandbox's is taken away.
        let own = total.saturating_sub(sandbox);
        let timing = format!(
            "server;dur={:.3}, sandbox;dur={:.3}",
            own.as_secs_f64() * 1000.0,
            sandbox.as_secs_f64() * 1000.0
        );
        if let Ok(value) = HeaderValue::from_str(&timing) {
            response.headers_mut().insert(SERVER_TIMING, value);
        }
    }
    let container = response
        .extensions()
        .get::<ContainerName>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    tracing::info!(
        request_id = %id,
        %peer,
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        container = %container,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
