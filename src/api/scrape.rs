//! `GET /metrics`: every metric as text for Prometheus. On the service's own
//! listener it takes the master key (as `X-Master-Key`, or as `Authorization:
//! Bearer`, which a scrape job's `authorization` setting sends); with
//! `--metrics-addr` it is also served without a key on that address alone,
//! which an operator keeps private (loopback, or a monitoring network).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::intake::keyed_or_bearer;
use super::judge0::queue::Service;
use super::metrics::Snapshot;
use super::state::AppState;

/// How old the installed images' list may be for a scrape (no podman call
/// per scrape).
const INSTALLED_GRACE: Duration = Duration::from_secs(60);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric, for Prometheus (the key, or `Authorization: Bearer <key>`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus' text format (OpenMetrics when asked for in `Accept`)", body = String, content_type = "text/plain")),
    security(("master_key" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let judge0 = request.extensions().get::<Arc<Service>>().cloned();
    let (parts, _) = request.into_parts();
    keyed_or_bearer(&state, &parts).await?;
    Ok(answer(&state, judge0.as_deref(), &parts.headers).await)
}

/// The router of `--metrics-addr`: `GET /metrics` without a key, nothing else.
pub fn keyless_router(state: AppState, judge0: Option<Arc<Service>>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move |State(state): State<AppState>, request: Request| {
                let judge0 = judge0.clone();
                async move { answer(&state, judge0.as_deref(), request.headers()).await }
            }),
        )
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

async fn answer(
    state: &AppState,
    judge0: Option<&Service>,
    headers: &axum::http::HeaderMap,
) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let text = state
        .metrics
        .render(snapshot(state, judge0).await, openmetrics);
    let kind = if openmetrics {
        OPENMETRICS
    } else {
        PROMETHEUS_TEXT
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        text,
    )
        .into_response()
}

async fn snapshot(state: &AppState, judge0: Option<&Service>) -> Snapshot {
    let installed = state
        .installed_images_within(INSTALLED_GRACE)
        .await
        .ok()
        .map(|images| {
            state
                .languages
                .iter()
                .filter(|l| images.iter().any(|i| i.reference == l.image_ref()))
                .count()
        });
    let judge0 = match judge0 {
        Some(service) => Some(service.load().await),
        None => None,
    };
    Snapshot::of(
        state.sandbox.stats(),
        |image| {
            state
                .languages
                .iter()
                .find(|l| l.image_ref() == image)
                .map(|l| l.name.clone())
        },
        judge0,
        installed,
    )
}
