//! `POST /submissions?wait=true`: the checks every keyed route makes, the
//! submission's validation, one container for its compile and its runs,
//! and the verdict in Judge0's shape (201, as Judge0 answers).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::config::Config;
use super::error::Judge0Error;
use super::info::judge0_name;
use super::request::{prepare, Query};
use super::response::{judge, timestamp, Shown};
use crate::api::error::ApiError;
use crate::api::intake::{keyed_json_body, JSON};
use crate::api::log::{ContainerName, SandboxTime};
use crate::api::piston::runtimes::for_lookup;
use crate::api::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Judge0Error> {
    let query = Query::parse(request.uri())?;
    let (parts, body) = request.into_parts();
    let bytes = keyed_json_body(&state, &parts, body, JSON).await?;
    if !query.wait {
        return Err(Judge0Error::Message(
            StatusCode::BAD_REQUEST,
            "only wait=true is served here: submissions are run while the request waits".into(),
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    drop(bytes);
    let config = Config::of(&state);
    let submission = prepare(&state, &config, &body, query.base64_encoded)?;
    drop(body);
    let created_at = timestamp(time::OffsetDateTime::now_utc());
    let language_name = for_lookup(&state)
        .await?
        .iter()
        .find(|r| r.language.id == submission.language.id)
        .map(judge0_name)
        .unwrap_or_else(|| submission.language.name.clone());

    let started = std::time::Instant::now();
    let outcome = submission
        .job
        .clone()
        .run(state.sandbox.as_ref(), state.limits, &state.images)
        .await?;
    let sandbox_time = SandboxTime(started.elapsed());
    let verdict = judge(&submission, &outcome);
    let token = uuid::Uuid::new_v4().to_string();
    let finished_at = timestamp(time::OffsetDateTime::now_utc());
    let shown = Shown {
        token: &token,
        submission: &submission,
        verdict: &verdict,
        language_name: &language_name,
        created_at: &created_at,
        finished_at: &finished_at,
    }
    .render(&query.fields, query.base64_encoded)?;
    let mut response = (StatusCode::CREATED, Json(shown)).into_response();
    response
        .extensions_mut()
        .insert(ContainerName(outcome.container));
    response.extensions_mut().insert(sandbox_time);
    Ok(response)
}
