//! The keyless probes: `GET /ping` (the original's liveness answer) and
//! `GET /ready` (for load balancers: is podman answering, which language
//! images are installed). Neither needs the key nor counts against
//! `--standalone`'s buckets; `--proxy` still applies (at the listener).
//!
//! Once a shutdown has begun (SIGTERM), `/ready` answers 503 with
//! `"draining": true` whatever else it finds, while the listener still
//! serves for the drain grace: a load balancer's checks take the instance
//! out before it stops listening.
//!
//! With the shared Judge0 store, `/ready` also says whether Redis answers
//! (without making the instance unready: its synchronous APIs still work).
//!
//! `/ready` reads the view of installed images it shares with
//! `/languages` ([`super::installed`]): podman is asked at most once per
//! interval however often it is probed.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;

use super::judge0::queue::Service;

use super::readiness::Report;
use super::state::AppState;

/// Liveness (only with `--ping`).
#[utoipa::path(get, path = "/ping", tag = "operations",
    responses((status = 200, description = "`pong`", body = String, content_type = "text/plain")))]
pub async fn pong() -> &'static str {
    "pong"
}

/// Readiness: podman answers and a language can run.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = super::readiness::Report),
        (status = 503, description = "Not ready: podman does not answer, no image is installed, or the instance is draining (shutting down)", body = super::readiness::Report)
    ))]
pub async fn ready(
    State(state): State<AppState>,
    judge0: Option<Extension<Arc<Service>>>,
) -> Response {
    // Draining is answered at once: a balancer's check must not wait on
    // podman or Redis to learn it.
    let report = if state.draining.is_draining() {
        draining(&state)
    } else {
        let mut report = probe(&state).await;
        if let Some(Extension(judge0)) = judge0 {
            report.store = judge0.store_health().await;
        }
        report
    };
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn probe(state: &AppState) -> Report {
    match state.images.get(&state.sandbox).await {
        Ok(images) => report(
            state,
            &images.iter().map(|i| i.reference.as_str()).collect(),
        ),
        Err(e) => not_ready(state, e.to_string()),
    }
}

fn report(state: &AppState, images: &HashSet<&str>) -> Report {
    let (installed, missing): (Vec<_>, Vec<_>) = state
        .languages
        .iter()
        .partition(|lang| images.contains(lang.image_ref().as_str()));
    let names = |langs: Vec<&std::sync::Arc<crate::languages::Language>>| {
        langs
            .into_iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
    };
    let ready = !installed.is_empty();
    Report {
        ready,
        draining: false,
        podman: true,
        detail: (!ready).then(|| "no language image is installed".to_owned()),
        installed: names(installed),
        missing: names(missing),
        store: None,
    }
}

/// Shutting down: not ready, whatever podman and the store would say
/// (neither is asked).
fn draining(state: &AppState) -> Report {
    Report {
        draining: true,
        ..not_ready(
            state,
            "shutting down: draining, send no new requests (podman and the store were not asked)"
                .to_owned(),
        )
    }
}

fn not_ready(state: &AppState, detail: String) -> Report {
    Report {
        ready: false,
        draining: false,
        podman: false,
        installed: Vec::new(),
        missing: state.languages.iter().map(|l| l.name.clone()).collect(),
        detail: Some(detail),
        store: None,
    }
}
