//! What every keyed route checks before it trusts a request, in the
//! documented order, everything a header can decide before a byte of the
//! body is read (so an unkeyed client never gets a `100 Continue` and costs
//! no body): 429 (rate limit), 413 (from `Content-Length`), 401 (key), 415
//! (content type); then the body within its deadline and size (408, 413).
//! The 403 of `--proxy` comes before all of them, from the listener.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::state::{admit, client_of, AppState};
use crate::auth::Verdict;

/// A request from a browser page (one with an `Origin`) is refused on the
/// routes that run code with the key (`/run`, Piston's execute): a gateway
/// that adds the key (the nginx example) would otherwise run any page's
/// program, a page elsewhere posting a form, or a page that pointed its own
/// host name at the gateway (DNS rebinding) posting JSON as its own origin.
/// Pages run programs with a ticket over the WebSocket; Judge0's routes
/// take the pages `--cors-origins` lists.
pub fn not_from_a_page(request: &Parts) -> Result<(), ApiError> {
    if request.headers.contains_key(header::ORIGIN) {
        return Err(ApiError::CrossOrigin(
            "a browser page may not run code with the master key: a page opens an interactive session with a ticket (POST /tickets)",
        ));
    }
    Ok(())
}

/// A keyed request without a body: 429, then 401.
pub async fn keyed(state: &AppState, request: &Parts) -> Result<(), ApiError> {
    admit(state, request)?;
    authorize(state, request, presented_key(&request.headers)).await
}

/// The same, the key also taken as `Authorization: Bearer <key>` (what a
/// Prometheus scrape job's `authorization` setting sends).
pub async fn keyed_or_bearer(state: &AppState, request: &Parts) -> Result<(), ApiError> {
    admit(state, request)?;
    let bearer = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let presented = match presented_key(&request.headers) {
        "" => bearer.unwrap_or_default(),
        key => key,
    };
    authorize(state, request, presented).await
}

fn presented_key(headers: &HeaderMap) -> &str {
    headers
        .get("x-master-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A refusal of a request that came with a body (most are decided before
/// the body is read, or partway) says `Connection: close`: the server
/// closes a connection whose request it did not read to the end, and a
/// client that was not told would send its next request on it and lose it.
pub async fn close_after_refused_body(request: Request, next: Next) -> Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    if has_body && response.status().is_client_error() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The content types whipcode's own routes take a body in.
pub const JSON: &[&str] = &["application/json"];

/// A keyed request's JSON body: 429, 413, 401, 415 (unless its content
/// type is one of `types`), then the body (408, 413).
pub async fn keyed_json_body(
    state: &AppState,
    request: &Parts,
    body: Body,
    types: &[&str],
) -> Result<Bytes, ApiError> {
    admit(state, request)?;
    check_declared_size(&request.headers, state.max_bytes)?;
    authorize(state, request, presented_key(&request.headers)).await?;
    check_content_type(&request.headers, types)?;
    read_body(body, state.max_bytes, state.body_deadline).await
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
) -> Result<Bytes, ApiError> {
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
async fn authorize(state: &AppState, request: &Parts, presented: &str) -> Result<(), ApiError> {
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

/// One of `types`, parameters such as `; charset=utf-8` allowed.
fn check_content_type(headers: &HeaderMap, types: &[&str]) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence {
        Some(essence) if types.contains(&essence.as_str()) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The request's one `Origin` (none: `None`); more than one is refused: a
/// browser sends one, and a gateway that checks one copy while whipcode
/// reads another would let a page pass for another.
pub fn single_origin(headers: &HeaderMap) -> Result<Option<&HeaderValue>, ApiError> {
    let mut all = headers.get_all(header::ORIGIN).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(ApiError::bad("more than one Origin header".to_owned()));
    }
    Ok(first)
}
