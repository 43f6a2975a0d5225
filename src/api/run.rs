//! `POST /run`: the checks of [`super::intake`], then 400 (the body's
//! fields), the cache, the run itself.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::body::{RunJson, RunMeta, StageJson, WithDeadline};
use super::cache::{CacheError, CacheKey, CACHE_HEADER};
use super::error::ApiError;
use super::intake::{keyed_json_body, not_from_a_page, JSON};
use super::job::Job;
use super::log::{ContainerName, SandboxTime};
use super::request::{Context, RunBody, RunRequest};
use super::state::AppState;
use crate::sandbox::{signal_name, RunOutcome, StageOutcome};

/// Outputs up to this many bytes are sent as one body (with a length, and
/// cacheable); larger ones are escaped and sent chunk by chunk.
const INLINE_OUTPUT: usize = 256 * 1024;

impl From<&RunOutcome> for RunMeta {
    fn from(o: &RunOutcome) -> Self {
        RunMeta {
            container_age: o.container_age.as_secs_f64(),
            timeout: o.timed_out,
            exit_code: if o.timed_out { None } else { o.exit_code },
            signal: o.signal.map(signal_name),
            truncated: o.truncated,
            cpu_time: o.cpu_time.map(|d| d.as_secs_f64()),
            cpu_time_source: o.cpu_time.map(|_| {
                if o.cpu_time_from_runner {
                    "runner"
                } else {
                    "cgroup"
                }
            }),
            memory_peak: o.memory_peak,
            oom_killed: o.oom_killed,
            channel_error: o.channel_error.clone(),
            compile: o
                .stages
                .iter()
                .find(|s| s.name == "compile")
                .map(StageJson::from),
        }
    }
}

impl From<&StageOutcome> for StageJson {
    fn from(s: &StageOutcome) -> Self {
        let text = |c: &crate::sandbox::Captured| String::from_utf8_lossy(&c.to_vec()).into_owned();
        StageJson {
            stdout: text(&s.stdout),
            stderr: text(&s.stderr),
            exit_code: if s.timed_out { None } else { s.exit_code },
            signal: s.signal.map(signal_name),
            timeout: s.timed_out,
            truncated: s.truncated,
            cpu_time: s.cpu_time.map(|d| d.as_secs_f64()),
            memory_peak: s.memory_peak,
            wall_time: s.wall_time.as_secs_f64(),
        }
    }
}

/// Runs a program (the original whipcode's contract, with additive fields).
#[utoipa::path(
    post,
    path = "/run",
    tag = "whipcode",
    request_body = RunBody,
    responses((status = 200, description = "The run's output and figures (a program's own failure is a 200 too)", body = super::openapi::wire::RunAnswer)),
    security(("master_key" = []))
)]
pub async fn run(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    not_from_a_page(&parts)?;
    let bytes = keyed_json_body(&state, &parts, body, JSON).await?;
    let body: RunBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    drop(bytes); // Not held for the whole run.
    let context = Context {
        languages: &state.languages,
        max_timeout: state.max_timeout,
        max_files: state.max_files,
    };
    let request = RunRequest::try_from((body, &context))?;

    let cache_key = state
        .cache
        .as_ref()
        .map(|_| CacheKey::of(&request, &state.limits));
    if let Some(body) = cached(&state, cache_key.as_ref()).await {
        return Ok(json_response(Body::from(body), Some("hit")));
    }

    let started = Instant::now();
    let outcome = Job::from(request)
        .run(&state, crate::api::metrics::Api::Whipcode)
        .await?;
    let sandbox_time = SandboxTime(started.elapsed());
    let container = ContainerName(outcome.container.clone());
    let cacheable = !outcome.timed_out
        && !outcome.truncated
        && outcome.channel_error.is_none()
        && outcome.exit_code.is_some();
    let meta = RunMeta::from(&outcome);
    let json = RunJson::new(outcome.stdout, outcome.stderr, &meta);
    let marker = state.cache.as_ref().map(|_| "miss");
    let mut response = if json.output_len() <= INLINE_OUTPUT {
        let body = json.into_bytes();
        if let (Some(key), true) = (cache_key, cacheable) {
            keep(&state, key, body.clone()).await;
        }
        json_response(Body::from(body), marker)
    } else {
        json_response(
            Body::new(WithDeadline::new(json, state.response_deadline)),
            marker,
        )
    };
    if let Ok(value) = HeaderValue::from_str(&container.0) {
        response.headers_mut().insert(CONTAINER_HEADER, value);
    }
    response.extensions_mut().insert(container);
    response.extensions_mut().insert(sandbox_time);
    Ok(response)
}

/// The cached answer to this request, when the cache is on and has it. A
/// shared cache that does not answer is a miss, so the run happens as usual.
async fn cached(state: &AppState, key: Option<&CacheKey>) -> Option<Bytes> {
    let (cache, key) = (state.cache.as_ref()?, key?);
    let found = cache.get(key).await.unwrap_or_else(|e| {
        unanswered(state, &e);
        None
    });
    state.metrics.cache_lookup(found.is_some());
    found
}

/// Stores a finished answer; a shared cache that does not take it is
/// counted, never the request's error.
async fn keep(state: &AppState, key: CacheKey, body: Bytes) {
    if let Some(cache) = &state.cache {
        if let Err(e) = cache.put(key, body).await {
            unanswered(state, &e);
        }
    }
}

fn unanswered(state: &AppState, e: &CacheError) {
    tracing::debug!(error = %e, "the result cache is skipped for this run");
    state.metrics.cache_unanswered();
}

/// The response header naming the (single-use) container that ran the program.
pub const CONTAINER_HEADER: &str = "x-whipcode-container";

/// A JSON body, with the cache header when the cache is on.
fn json_response(body: Body, cache: Option<&'static str>) -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(marker) = cache {
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(marker));
    }
    response
}
