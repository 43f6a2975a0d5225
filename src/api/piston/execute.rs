//! `POST /api/v2/execute`: the checks every keyed route makes, Piston's
//! validation, the run, and the answer in Piston's shape.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use http_body_util::Full;

use super::error::PistonError;
use super::job::prepare;
use super::request::PistonExecute;
use super::response::ExecuteResponse;
use crate::api::body::WithDeadline;
use crate::api::error::ApiError;
use crate::api::intake::{keyed_json_body, not_from_a_page};
use crate::api::log::{ContainerName, SandboxTime};
use crate::api::run::CONTAINER_HEADER;
use crate::api::state::AppState;

/// The content types `execute` takes. `text/plain` besides Piston's JSON:
/// the npm `piston-client` posts its JSON as a bare string, which its
/// `fetch` labels `text/plain;charset=UTF-8` (Piston 3 refuses it with a
/// 415); the body must still be JSON. Not from a browser (see below).
const TYPES: &[&str] = &["application/json", "text/plain"];

/// Runs a program, as Piston does (`text/plain` bodies are taken too).
#[utoipa::path(post, path = "/execute", tag = "piston",
    request_body = PistonExecute,
    responses((status = 200, description = "The stages' results", body = super::response::ExecuteResponse)), security(("master_key" = [])))]
pub async fn execute(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, PistonError> {
    let (parts, body) = request.into_parts();
    not_from_a_page(&parts)?;
    let bytes = keyed_json_body(&state, &parts, body, TYPES).await?;
    let body: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    drop(bytes);
    let execute = prepare(&state, PistonExecute::from_json(body)?).await?;

    let started = std::time::Instant::now();
    let outcome = execute
        .job
        .run(&state, crate::api::metrics::Api::Piston)
        .await?;
    let sandbox_time = SandboxTime(started.elapsed());
    let answer = ExecuteResponse::new(
        execute.runtime.name().to_owned(),
        execute.runtime.version.to_string(),
        &outcome,
    );
    let json = serde_json::to_vec(&answer).map_err(|e| {
        tracing::error!(error = %e, "could not encode an execute answer");
        ApiError::Internal
    })?;
    drop(answer);
    let body = WithDeadline::new(Full::new(json.into()), state.response_deadline);
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::new(body),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&outcome.container) {
        response.headers_mut().insert(CONTAINER_HEADER, value);
    }
    response
        .extensions_mut()
        .insert(ContainerName(outcome.container));
    response.extensions_mut().insert(sandbox_time);
    Ok(response)
}
