//! The HTTP layer: routes, the order of checks, and status codes. It knows no
//! podman flag; it turns requests into [`crate::sandbox::RunSpec`]s.
//!
//! - [`error`]: the one error type and its statuses.
//! - [`request`]: the wire body of `POST /run` and its validation.
//! - [`run`]: the `POST /run` handler.
//! - [`body`]: its JSON response, escaped chunk by chunk as it is sent.
//! - [`cache`]: `--cache`, finished responses by a key over every input.
//! - [`ratelimit`]: `--standalone`, a token bucket per client address.
//! - [`health`]: `GET /ping` and `GET /ready`, the keyless probes.
//! - [`languages`]: `GET /languages`, what can run here and in which version.
//! - [`log`]: one log line per request and `X-Request-Id`.

pub mod body;
pub mod cache;
pub mod error;
pub mod health;
pub mod languages;
pub mod log;
pub mod ratelimit;
pub mod request;
pub mod run;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::MasterKey;
use crate::languages::LanguageMap;
use crate::sandbox::{Limits, Sandbox};
use cache::ResultCache;
use error::ApiError;
use ratelimit::{Decision, RateLimiter};

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub key: Arc<MasterKey>,
    pub languages: Arc<LanguageMap>,
    pub sandbox: Arc<dyn Sandbox>,
    pub max_bytes: u64,
    pub max_timeout: Duration,
    /// How long a client gets to send a request body.
    pub body_deadline: Duration,
    pub limits: Limits,
    /// Only this peer may connect, when set.
    pub proxy: Option<IpAddr>,
    /// `--standalone`.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// `--cache`.
    pub cache: Option<Arc<ResultCache>>,
    /// `GET /ready`'s remembered answer.
    pub readiness: Arc<health::Readiness>,
}

impl AppState {
    /// State with every optional feature off.
    pub fn new(
        key: Arc<MasterKey>,
        languages: Arc<LanguageMap>,
        sandbox: Arc<dyn Sandbox>,
    ) -> AppState {
        AppState {
            key,
            languages,
            sandbox,
            max_bytes: 1_000_000,
            max_timeout: Duration::from_secs(10),
            body_deadline: Duration::from_secs(30),
            limits: Limits::default(),
            proxy: None,
            rate_limit: None,
            cache: None,
            readiness: Arc::new(health::Readiness::default()),
        }
    }
}

impl AppState {
    /// The state the service runs with: every setting the HTTP layer uses,
    /// taken from the service's settings in this one place.
    pub fn from_settings(
        settings: &crate::config::Settings,
        key: Arc<MasterKey>,
        languages: Arc<LanguageMap>,
        sandbox: Arc<dyn Sandbox>,
    ) -> AppState {
        AppState {
            max_bytes: settings.max_bytes,
            max_timeout: settings.timeout,
            limits: settings.limits(),
            body_deadline: settings.client_timeout,
            proxy: settings.proxy,
            rate_limit: settings.rate_limit.map(|l| Arc::new(RateLimiter::new(l))),
            cache: settings
                .cache
                .map(|bytes| Arc::new(ResultCache::new(bytes))),
            ..AppState::new(key, languages, sandbox)
        }
    }
}

/// The service's routes. `/ping` exists only when enabled.
pub fn router(state: AppState, ping: bool) -> Router {
    let not_allowed = || async { ApiError::MethodNotAllowed };
    let mut router = Router::new()
        .route("/run", post(run::run).fallback(not_allowed))
        .route("/ready", get(health::ready).fallback(not_allowed))
        .route("/languages", get(languages::list).fallback(not_allowed));
    if ping {
        router = router.route("/ping", get(health::pong).fallback(not_allowed));
    }
    router
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(log::log_requests))
        .with_state(state)
}

fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// 403 unless the peer is the configured proxy.
fn check_peer(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let Some(proxy) = state.proxy else {
        return Ok(());
    };
    let same = |ip: IpAddr| ip == proxy || ip.to_canonical() == proxy.to_canonical();
    match peer_of(request) {
        Some(ip) if same(ip) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// The checks before a keyed endpoint reads its body: 403 (proxy), then 429
/// (the peer's token bucket, when `--standalone`).
fn admit(state: &AppState, request: &Request) -> Result<(), ApiError> {
    check_peer(state, request)?;
    let (Some(limiter), Some(peer)) = (&state.rate_limit, peer_of(request)) else {
        return Ok(());
    };
    match limiter.check(peer, Instant::now()) {
        Decision::Allow => Ok(()),
        Decision::Deny { retry_after } => Err(ApiError::TooManyRequests {
            retry_after: retry_after.as_secs_f64().ceil().max(1.0) as u32,
        }),
    }
}
