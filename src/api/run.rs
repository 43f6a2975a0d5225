//! `POST /run`. Checks run in the documented order, everything a header can
//! decide before a byte of the body is read (so an unkeyed client never gets
//! a `100 Continue` and costs no body): 429 (rate limit), 413 (from
//! `Content-Length`), 401 (key), 415 (content type); then the body within its
//! deadline and size (408, 413), 400 (its fields), the cache, the run itself.
//! The 403 of `--proxy` comes before all of them, from the listener.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::body::{RunJson, RunMeta, StageJson, WithDeadline};
use super::cache::{CacheKey, CACHE_HEADER};
use super::error::ApiError;
use super::log::{ContainerName, SandboxTime};
use super::request::{Context, RunBody, RunRequest};
use super::state::{admit, client_of, AppState};
use crate::auth::Verdict;
use crate::sandbox::{signal_name, RunOutcome, RunSpec, SandboxError, StageOutcome, StageSpec};

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

pub async fn run(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    admit(&state, &parts)?;
    check_declared_size(&parts.headers, state.max_bytes)?;
    authorize(&state, &parts).await?;
    check_content_type(&parts.headers)?;
    let bytes = read_body(body, state.max_bytes, state.body_deadline).await?;
    let body: RunBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    let request = body.validate(&Context {
        languages: &state.languages,
        max_timeout: state.max_timeout,
        max_files: state.max_files,
    })?;

    let cache_key = state.cache.as_ref().map(|_| CacheKey::of(&request));
    if let (Some(cache), Some(key)) = (&state.cache, &cache_key) {
        if let Some(body) = cache.get(key) {
            return Ok(json_response(Body::from(body), Some("hit")));
        }
    }

    let started = Instant::now();
    let language = request.language.name.clone();
    let spec = spec_for(&state, request);
    let outcome = state.sandbox.run(spec).await.map_err(|e| match e {
        SandboxError::Busy { .. } => ApiError::Unavailable {
            detail: format!("{e}; retry shortly"),
            retry_after: 1,
        },
        SandboxError::ImageMissing { image } => {
            tracing::error!(%image, %language, "language image missing");
            state.images.mark_stale();
            ApiError::Unavailable {
                detail: format!("the {language} image is not installed on this server"),
                retry_after: 60,
            }
        }
        other => {
            tracing::error!(error = %other, %language, "run failed");
            ApiError::Internal
        }
    })?;
    tracing::debug!(
        container = %outcome.container,
        %language,
        exit_code = ?outcome.exit_code,
        timed_out = outcome.timed_out,
        truncated = outcome.truncated,
        ms = started.elapsed().as_millis() as u64,
        "run finished"
    );
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
        if let (Some(cache), Some(key), true) = (&state.cache, cache_key, cacheable) {
            cache.put(key, body.clone());
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

fn spec_for(state: &AppState, request: RunRequest) -> RunSpec {
    let language = &request.language;
    let names: Vec<String> = request.files.iter().map(|(name, _)| name.clone()).collect();
    let mut files = Vec::with_capacity(request.files.len() + 1);
    files.push((language.source.clone(), request.code));
    files.extend(request.files);
    let stages = language
        .stages(&request.args, &language.source, &names)
        .into_iter()
        .map(|(name, steps)| StageSpec {
            name: name.to_owned(),
            steps,
            timeout: if name == "compile" {
                request.compile_timeout
            } else {
                request.timeout
            },
            cpu_time: None,
            memory_mb: None,
        })
        .collect();
    RunSpec {
        image: language.image_ref(),
        files,
        stages,
        env: request.env,
        stdin: request.stdin,
        limits: state.limits.with_overrides(&language.limits),
    }
}

/// 413 from `Content-Length` alone, before anything else is read.
fn check_declared_size(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The body, within `limit` bytes and `deadline`. The bytes are parsed where
/// they are (no copy after collecting).
async fn read_body(
    body: Body,
    limit: u64,
    deadline: std::time::Duration,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(ApiError::RequestTimeout {
            seconds: deadline.as_secs(),
        });
    };
    match read {
        Ok(bytes) => Ok(bytes),
        Err(e) if is_length_limit(&e) => Err(too_large),
        Err(_) => Err(ApiError::bad("could not read the request body")),
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// 401 unless the request carries the master key; 429 when its client has
/// spent its budget of key checks (see [`crate::auth`]).
pub(super) async fn authorize(state: &AppState, request: &Parts) -> Result<(), ApiError> {
    let presented = request
        .headers
        .get("x-master-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match state.key.verify(presented, client_of(state, request)).await {
        Verdict::Valid => Ok(()),
        Verdict::Invalid => Err(ApiError::Unauthorized),
        Verdict::Throttled { retry_after } => Err(ApiError::TooManyKeyChecks {
            retry_after: retry_after.as_secs_f64().ceil().max(1.0) as u32,
        }),
        Verdict::Busy => Err(ApiError::Unavailable {
            detail: "too many key checks in progress; retry shortly".into(),
            retry_after: 1,
        }),
    }
}

/// `application/json`, parameters such as `; charset=utf-8` allowed.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}
