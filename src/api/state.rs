//! What every handler shares ([`AppState`]: the server builds it from its
//! settings, in `server::app_state`; this layer knows no runtime flag), who a
//! request's client is, and the rate limit (429).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use super::cache::ResultCache;
use super::error::ApiError;
use super::installed::InstalledView;
use crate::auth::MasterKey;
use crate::buckets::{Decision, RateLimiter};
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
    /// Files one run may send, the entry included.
    pub max_files: usize,
    /// How long a client gets to send a request body.
    pub body_deadline: Duration,
    /// How long a streamed response may take to send in all (each write
    /// has the listener's own deadline; this bounds a client that reads a
    /// little just often enough).
    pub response_deadline: Duration,
    pub limits: Limits,
    /// `--proxy`: the listener accepts only this peer; its
    /// `X-Forwarded-For` names the client.
    pub proxy: Option<IpAddr>,
    /// `--standalone`.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// `--cache`.
    pub cache: Option<Arc<ResultCache>>,
    /// The installed images, as `/languages` and `/ready` see them.
    pub images: Arc<InstalledView>,
    /// Where Judge0's API is nested; `None`: not served.
    pub judge0_path: Option<String>,
    /// Where Judge0 Extra CE's API is nested; `None`: not served.
    pub judge0_extra_path: Option<String>,
    /// Whose pages may call Judge0's API from a browser (`--cors-origins`).
    pub cors_origins: Arc<crate::origins::CorsOrigins>,
    /// What the handlers count, for `/metrics`.
    pub metrics: super::metrics::SharedMetrics,
    /// Set by the server when a shutdown begins: `/ready` answers 503.
    pub draining: super::draining::Draining,
}

impl AppState {
    /// The installed images from the shared view, or a 503 saying podman is
    /// not answering (for the listings of every API).
    pub(super) async fn installed_images(
        &self,
    ) -> Result<Arc<Vec<crate::sandbox::InstalledImage>>, ApiError> {
        self.installed_images_within(Duration::ZERO).await
    }

    /// The same, where a list up to `grace` old will do without waiting
    /// (a run's lookup; see [`InstalledView::within`]).
    pub(super) async fn installed_images_within(
        &self,
        grace: Duration,
    ) -> Result<Arc<Vec<crate::sandbox::InstalledImage>>, ApiError> {
        self.images
            .within(&self.sandbox, grace)
            .await
            .map_err(|e| ApiError::Unavailable {
                detail: format!("{e}; retry shortly"),
                retry_after: 5,
            })
    }
}

fn peer_of(request: &Parts) -> Option<IpAddr> {
    request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The client a request is counted as (rate limit, key-check budget): the
/// peer; behind `--proxy`, the address the proxy appended to
/// `X-Forwarded-For`, its rightmost entry (the entries left of it are
/// whatever the client sent, so they are never trusted).
pub(super) fn client_of(state: &AppState, request: &Parts) -> IpAddr {
    let peer = peer_of(request).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if state.proxy.is_none() {
        return peer;
    }
    request
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|value| value.to_str().ok())
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| forwarded_ip(last.trim()))
        .unwrap_or(peer)
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `2001:db8::1`, or with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The check before a keyed endpoint reads anything: 429 (the client's
/// token bucket, when `--standalone`). `--proxy` is enforced earlier, by
/// the listener, before a connection is read at all.
pub(super) fn admit(state: &AppState, request: &Parts) -> Result<(), ApiError> {
    let Some(limiter) = &state.rate_limit else {
        return Ok(());
    };
    match limiter.check(client_of(state, request), Instant::now()) {
        Decision::Allow => Ok(()),
        Decision::Deny { retry_after } => Err(ApiError::TooManyRequests {
            retry_after: retry_after.as_secs_f64().ceil().max(1.0) as u32,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// State for unit tests: the settings' defaults (as the server turns
    /// them into state), the built-in languages, a key of zeros, and a
    /// sandbox that runs nothing and has no images.
    impl AppState {
        pub(crate) fn for_tests() -> AppState {
            let key = MasterKey::parse(&format!("{}\nsaltsaltsalt\n", "00".repeat(32))).unwrap();
            let languages = LanguageMap::load(None).unwrap();
            crate::server::app_state(
                &crate::config::Settings::default(),
                Arc::new(key),
                Arc::new(languages),
                Arc::new(Nothing),
            )
        }
    }

    struct Nothing;

    impl Sandbox for Nothing {
        fn run(
            &self,
            _: crate::sandbox::RunSpec,
        ) -> crate::sandbox::BoxFuture<
            '_,
            Result<crate::sandbox::RunOutcome, crate::sandbox::SandboxError>,
        > {
            Box::pin(async {
                Err(crate::sandbox::SandboxError::Engine(
                    crate::sandbox::EngineError::failed("none"),
                ))
            })
        }
        fn images(
            &self,
        ) -> crate::sandbox::BoxFuture<
            '_,
            Result<Vec<crate::sandbox::InstalledImage>, crate::sandbox::SandboxError>,
        > {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn parts(peer: &str, forwarded: &[&str]) -> Parts {
        let mut request = axum::http::Request::builder();
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    fn state(proxy: Option<&str>) -> AppState {
        AppState {
            proxy: proxy.map(|p| p.parse().unwrap()),
            ..AppState::for_tests()
        }
    }

    #[test]
    fn behind_the_proxy_the_client_is_the_address_the_proxy_appended() {
        let behind = state(Some("10.0.0.1"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // The client forged the leftmost entries; the proxy appended the last.
        let request = parts("10.0.0.1:4000", &["1.1.1.1, 2.2.2.2", "203.0.113.7"]);
        assert_eq!(client_of(&behind, &request), ip("203.0.113.7"));
        let request = parts("10.0.0.1:4000", &["1.1.1.1, 203.0.113.8"]);
        assert_eq!(client_of(&behind, &request), ip("203.0.113.8"));
        let request = parts("10.0.0.1:4000", &["203.0.113.9:5678"]);
        assert_eq!(client_of(&behind, &request), ip("203.0.113.9"));
        let request = parts("10.0.0.1:4000", &["[2001:db8::7]:5678"]);
        assert_eq!(client_of(&behind, &request), ip("2001:db8::7"));
        let request = parts("10.0.0.1:4000", &["[2001:db8::8]"]);
        assert_eq!(client_of(&behind, &request), ip("2001:db8::8"));
        let request = parts("10.0.0.1:4000", &["garbage"]);
        assert_eq!(client_of(&behind, &request), ip("10.0.0.1"));
        // Without --proxy the header is anyone's to write, so it is ignored.
        let direct = state(None);
        let request = parts("192.0.2.9:4000", &["203.0.113.7"]);
        assert_eq!(client_of(&direct, &request), ip("192.0.2.9"));
    }
}
