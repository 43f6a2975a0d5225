//! The HTTP layer: routes, the order of checks, and status codes. It knows no
//! podman flag; it turns requests into [`crate::sandbox::RunSpec`]s.
//!
//! - [`error`]: the one error type and its statuses.
//! - [`request`]: the wire body of `POST /run` and its validation.
//! - [`run`]: the `POST /run` handler and its response.
//! - [`log`]: one log line per request and `X-Request-Id`.

pub mod error;
pub mod log;
pub mod request;
pub mod run;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::MasterKey;
use crate::languages::LanguageMap;
use crate::sandbox::{Limits, Sandbox};
use error::ApiError;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub key: Arc<MasterKey>,
    pub languages: Arc<LanguageMap>,
    pub sandbox: Arc<dyn Sandbox>,
    pub max_bytes: u64,
    pub max_timeout: Duration,
    pub limits: Limits,
    /// Only this peer may connect, when set.
    pub proxy: Option<IpAddr>,
}

/// The service's routes. `/ping` exists only when enabled.
pub fn router(state: AppState, ping: bool) -> Router {
    let mut router = Router::new().route(
        "/run",
        post(run::run).fallback(|| async { ApiError::MethodNotAllowed }),
    );
    if ping {
        router = router.route(
            "/ping",
            get(pong).fallback(|| async { ApiError::MethodNotAllowed }),
        );
    }
    router
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(log::log_requests))
        .with_state(state)
}

async fn pong(State(state): State<AppState>, request: Request) -> Result<&'static str, ApiError> {
    check_peer(&state, &request)?;
    Ok("pong")
}

/// 403 unless the peer is the configured proxy.
fn check_peer(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let Some(proxy) = state.proxy else {
        return Ok(());
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let same = |ip: IpAddr| ip == proxy || ip.to_canonical() == proxy.to_canonical();
    match peer {
        Some(ip) if same(ip) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}
