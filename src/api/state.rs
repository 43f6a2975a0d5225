//! What every handler shares ([`AppState`], built from the settings in one
//! place) and the checks before a handler reads anything: the proxy (403)
//! and the rate limit (429).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};

use super::cache::ResultCache;
use super::error::ApiError;
use super::ratelimit::{Decision, RateLimiter};
use super::readiness::Readiness;
use crate::auth::MasterKey;
use crate::languages::LanguageMap;
use crate::sandbox::{Limits, Sandbox};

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
    pub readiness: Arc<Readiness>,
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
            readiness: Arc::new(Readiness::default()),
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

fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// 403 unless the peer is the configured proxy.
pub(super) fn check_peer(state: &AppState, request: &Request) -> Result<(), ApiError> {
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
pub(super) fn admit(state: &AppState, request: &Request) -> Result<(), ApiError> {
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
