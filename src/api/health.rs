//! The keyless probes: `GET /ping` (the original's liveness answer) and
//! `GET /ready` (for load balancers: is podman answering, which language
//! images are installed). Neither needs the key nor counts against
//! `--standalone`'s buckets; `--proxy` still applies.
//!
//! `/ready` asks podman at most once per [`READY_TTL`] however often it is
//! probed, and concurrent probes share one question.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::readiness::Report;
use super::state::{check_peer, AppState};

/// How long one readiness answer is reused.
pub const READY_TTL: Duration = Duration::from_secs(2);
/// How long podman gets to list images before the service counts as not ready.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

pub async fn pong(
    State(state): State<AppState>,
    request: Request,
) -> Result<&'static str, ApiError> {
    check_peer(&state, &request)?;
    Ok("pong")
}

pub async fn ready(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    check_peer(&state, &request)?;
    let mut last = state.readiness.last.lock().await;
    let report = match &*last {
        Some((at, report)) if at.elapsed() < READY_TTL => report.clone(),
        _ => {
            let report = probe(&state).await;
            *last = Some((Instant::now(), report.clone()));
            report
        }
    };
    drop(last);
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(report)).into_response())
}

async fn probe(state: &AppState) -> Report {
    let listed = tokio::time::timeout(PROBE_DEADLINE, state.sandbox.images()).await;
    let images: HashSet<String> = match listed {
        Ok(Ok(images)) => images.into_iter().map(|i| i.reference).collect(),
        Ok(Err(e)) => return not_ready(state, format!("podman: {e}")),
        Err(_) => return not_ready(state, "podman did not answer in time".into()),
    };
    let (installed, missing): (Vec<_>, Vec<_>) = state
        .languages
        .iter()
        .partition(|lang| images.contains(&lang.image_ref()));
    let names = |langs: Vec<&std::sync::Arc<crate::languages::Language>>| {
        langs
            .into_iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
    };
    let ready = !installed.is_empty();
    Report {
        ready,
        podman: true,
        detail: (!ready).then(|| "no language image is installed".to_owned()),
        installed: names(installed),
        missing: names(missing),
    }
}

fn not_ready(state: &AppState, detail: String) -> Report {
    tracing::warn!(%detail, "readiness probe failed");
    Report {
        ready: false,
        podman: false,
        installed: Vec::new(),
        missing: state.languages.iter().map(|l| l.name.clone()).collect(),
        detail: Some(detail),
    }
}
