//! The HTTP layer: routes, the order of checks, and status codes. It knows no
//! podman flag; it turns requests into [`crate::sandbox::RunSpec`]s.
//!
//! - [`error`]: the one error type and its statuses.
//! - [`request`]: the wire body of `POST /run` and its validation.
//! - [`lenient`]: a wire field kept as sent, for each API's own refusals.
//! - [`intake`]: what every keyed route checks first (rate limit, size, key, type, body).
//! - [`job`]: the one job every API makes of its request, and its run in the sandbox.
//! - [`run`]: the `POST /run` handler.
//! - [`routing`]: what every API's routes share (a 405 in its shape).
//! - [`dispatch`]: a job run in the state's sandbox and counted in the metrics.
//! - [`body`]: its JSON response, escaped chunk by chunk as it is sent.
//! - [`cache`]: `--cache`, finished responses by a key over every input, in
//!   memory or (with `--store`) in Redis, shared by the instances.
//! - [`state`]: what the handlers share, built from the settings; the peer checks.
//! - [`health`]: `GET /ping` and `GET /ready`, the keyless probes.
//! - [`readiness`]: `GET /ready`'s answer.
//! - [`draining`]: whether a shutdown has begun (`/ready` then answers 503).
//! - [`installed`]: the view of installed images `/ready` and `/languages` share.
//! - [`languages`]: `GET /languages`, what can run here and in which version.
//! - [`piston`]: Piston's API under `/api/v2`.
//! - [`judge0`]: Judge0's API under `--judge0-path` (`/judge0`), and in its
//!   Extra CE flavour under `--judge0-extra-path` (`/judge0-extra`).
//! - [`interactive`]: interactive runs over a WebSocket (`/api/v2/connect`, `/connect`).
//! - [`tickets`]: `POST /tickets`, a ticket for interactive sessions instead of the key.
//! - [`log`]: one log line per request and `X-Request-Id`; each request counted.
//! - [`metrics`]: what the service counts, in Prometheus' formats.
//! - [`openapi`]: the OpenAPI description of every route, `GET /openapi.json`.
//! - [`scrape`]: `GET /metrics`, keyed here or keyless on `--metrics-addr`.
//! - [`reconnect`]: connecting to Redis in the background, again until it answers.
//! - [`own_routes`]: the first path segments of the routes above, which no
//!   other API may be nested under.

pub mod body;
pub mod cache;
pub mod dispatch;
pub mod draining;
pub mod error;
pub mod health;
pub mod installed;
pub mod intake;
pub mod interactive;
pub mod job;
pub mod judge0;
pub mod languages;
pub mod lenient;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod own_routes;
pub mod piston;
pub mod readiness;
pub mod reconnect;
pub mod request;
pub mod routing;
pub mod run;
pub mod scrape;
pub mod state;
pub mod tickets;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::ApiError;
pub use state::AppState;

/// The service's routes. `/ping` exists only when enabled. Judge0's
/// asynchronous routes need [`router_with`] and a queue.
pub fn router(state: AppState, ping: bool) -> Router {
    router_with(state, ping, None)
}

/// The routes, Judge0's with `judge0`'s queue and store. Every route is
/// added with `utoipa_axum`'s `routes!` from its handler's description, so
/// `/openapi.json` describes exactly what is served.
pub fn router_with(
    state: AppState,
    ping: bool,
    judge0: Option<std::sync::Arc<judge0::queue::Service>>,
) -> Router {
    let (mut router, description) =
        described_routes(&state, ping, judge0.clone()).split_for_parts();
    if let Some(path) = state.judge0_extra_path.clone() {
        // Described once, under Judge0's own path: these are the same
        // routes (and operation ids) with other language ids.
        let origins = std::sync::Arc::clone(&state.cors_origins);
        let extra = judge0::routes(judge0.clone(), judge0::flavor::Flavor::ExtraCe, origins);
        router = router.nest(&path, extra.split_for_parts().0);
    }
    let description = openapi::Description(std::sync::Arc::new(
        serde_json::to_value(openapi::finish(description)).unwrap_or_default(),
    ));
    let router = match judge0 {
        // `/metrics` reads the queue's load from here.
        Some(service) => router.layer(axum::Extension(service)),
        None => router,
    };
    let judge0_paths = [&state.judge0_path, &state.judge0_extra_path]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let router = router
        .layer(axum::Extension(description))
        .layer(axum::middleware::from_fn(intake::close_after_refused_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log::log_requests,
        ))
        .with_state(state);
    routing::trailing_slash_ignored_under(router, judge0_paths)
}

/// Every route with its description, before the shared layers.
pub fn described_routes(
    state: &AppState,
    ping: bool,
    judge0: Option<std::sync::Arc<judge0::queue::Service>>,
) -> OpenApiRouter<AppState> {
    let not_allowed = || async { ApiError::MethodNotAllowed };
    let refuse = routing::refusing_other_methods;
    let mut router = OpenApiRouter::new()
        .routes(refuse(routes!(run::run), not_allowed))
        .routes(refuse(routes!(health::ready), not_allowed))
        .routes(refuse(routes!(languages::list), not_allowed))
        .routes(refuse(routes!(tickets::create), not_allowed))
        .routes(refuse(routes!(interactive::whipcode), not_allowed))
        .routes(refuse(routes!(scrape::metrics), not_allowed))
        .routes(refuse(routes!(openapi::document), not_allowed));
    if ping {
        router = router.routes(refuse(routes!(health::pong), not_allowed));
    }
    if let Some(path) = state.judge0_path.clone() {
        let origins = std::sync::Arc::clone(&state.cors_origins);
        let ce = judge0::routes(judge0, judge0::flavor::Flavor::Ce, origins);
        router = router.nest(&path, ce);
    }
    router
        .nest("/api/v2", piston::routes())
        .fallback(|| async { ApiError::NotFound })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::own_routes::OWN_ROUTES;
    use super::*;

    #[test]
    fn own_routes_are_the_first_segments_of_every_route_served() {
        let state = AppState {
            judge0_path: None,
            ..AppState::for_tests()
        };
        let (_, description) = described_routes(&state, true, None).split_for_parts();
        let served: BTreeSet<&str> = description
            .paths
            .paths
            .keys()
            .map(|path| path.trim_start_matches('/').split('/').next().unwrap())
            .collect();
        assert_eq!(served, OWN_ROUTES.iter().copied().collect());
    }
}
