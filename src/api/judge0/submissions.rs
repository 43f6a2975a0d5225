//! Judge0's submissions: `POST /submissions` (`wait=true` runs while the
//! request waits; without it, a token at once and the run from the
//! embedded queue), `GET /submissions/{token}`, `POST /submissions/batch`,
//! `GET /submissions/batch?tokens=…`, and `GET /workers`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::config::{Config, MAX_BATCH};
use super::error::Judge0Error;
use super::flavor::Flavor;
use super::languages::judge0_name;
use super::queue::{Accepted, AsReceived, Service};
use super::request::{prepare_all, Judge0Batch, Judge0Submission, Query, Submission};
use super::response::{callback_body, judge, timestamp, Shown};
use super::store::Record;
use crate::api::error::ApiError;
use crate::api::intake::{keyed, keyed_json_body, JSON};
use crate::api::log::{ContainerName, SandboxTime};
use crate::api::metrics::Judge0Load;
use crate::api::piston::runtimes::for_lookup;
use crate::api::state::AppState;

/// The asynchronous API's queue and store, when this server has them.
fn service(request: &Request) -> Option<Arc<Service>> {
    request.extensions().get::<Arc<Service>>().cloned()
}

fn no_queue() -> Judge0Error {
    Judge0Error::Message(
        StatusCode::BAD_REQUEST,
        "asynchronous submissions are not enabled on this server: use wait=true".into(),
    )
}

/// The name Judge0's listing gives a submission's language.
async fn language_name(state: &AppState, submission: &Submission) -> Result<String, Judge0Error> {
    Ok(for_lookup(state)
        .await?
        .iter()
        .find(|r| r.language.id == submission.language.id)
        .map(judge0_name)
        .unwrap_or_else(|| submission.language.name.clone()))
}

/// A keyed request's JSON body (Judge0's refusals in its shape).
async fn json_body(state: &AppState, request: Request) -> Result<Value, Judge0Error> {
    let (parts, body) = request.into_parts();
    let bytes = keyed_json_body(state, &parts, body, JSON).await?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?)
}

/// Each of `bodies` as received, for a backend that keeps requests (none
/// for another, or without one).
fn as_received(
    service: Option<&Arc<Service>>,
    bodies: &[Value],
    flavor: Flavor,
    query: &Query,
) -> Vec<Option<AsReceived>> {
    let keeps = service.is_some_and(|s| s.keeps_requests());
    bodies
        .iter()
        .map(|body| {
            keeps.then(|| AsReceived {
                body: body.clone(),
                flavor,
                base64_encoded: query.base64_encoded,
            })
        })
        .collect()
}

/// `POST /submissions`.
/// A submission: queued (its token), or run at once with `wait=true`.
#[utoipa::path(post, path = "/submissions", tag = "judge0",
    request_body = Judge0Submission,
    params(
        ("base64_encoded" = Option<bool>, Query, description = "Texts in base64 both ways"),
        ("wait" = Option<bool>, Query, description = "Answer with the verdict instead of a token"),
        ("fields" = Option<String>, Query, description = "Attributes to show with `wait=true`"),
    ),
    responses((status = 201, description = "Its token, or with `wait=true` the submission", body = crate::api::openapi::wire::Judge0View)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Judge0Error> {
    let query = Query::parse(request.uri())?;
    let (service, flavor) = (service(&request), Flavor::of(&request));
    let body = json_body(&state, request).await?;
    let config = Config::of(&state, service.as_ref().map(|s| s.config()));
    let callbacks = service.as_ref().map(|s| &s.callbacks);
    if let Some(service) = service.as_ref().filter(|_| !query.wait) {
        still_taking(&state, service)?;
        service.room_for(1).await?;
    }
    let queued = service.as_ref().filter(|_| !query.wait);
    let received = as_received(queued, std::slice::from_ref(&body), flavor, &query).pop();
    let bodies = vec![Judge0Submission::from_body(body)?];
    let prepared = prepare_all(
        &state,
        flavor,
        &config,
        callbacks,
        bodies,
        query.base64_encoded,
    )
    .await?;
    let submission = prepared
        .into_iter()
        .next()
        .ok_or(Judge0Error::Api(ApiError::Internal))??;
    let name = language_name(&state, &submission).await?;
    if !query.wait {
        let service = service.ok_or_else(no_queue)?;
        let accepted = Accepted {
            submission: Arc::new(submission),
            language_name: name,
            received: received.flatten(),
        };
        let tokens = service.submit(vec![accepted]).await?;
        return Ok((StatusCode::CREATED, Json(json!({"token": tokens[0]}))).into_response());
    }

    let created_at = timestamp(time::OffsetDateTime::now_utc());
    let started = std::time::Instant::now();
    let outcome = submission
        .job
        .clone()
        .run(&state, crate::api::metrics::Api::Judge0)
        .await?;
    let sandbox_time = SandboxTime(started.elapsed());
    let verdict = judge(&submission, &outcome);
    let token = uuid::Uuid::new_v4().to_string();
    let finished_at = timestamp(time::OffsetDateTime::now_utc());
    let shown = Shown {
        token: &token,
        submission: &submission,
        verdict: &verdict,
        language_name: &name,
        created_at: &created_at,
        finished_at: Some(&finished_at),
    }
    .render(&query.fields, query.base64_encoded)?;
    if let Some(service) = &service {
        if let Some(url) = submission.callback_url.clone() {
            let body = callback_body(&token, &submission, &verdict, &finished_at);
            service.callbacks.send(url, body);
        }
        // Readable by its token afterwards, as in Judge0 (when there is room).
        let record = Record::new(Arc::new(submission), name, created_at);
        service
            .keep_finished(token, record, verdict, finished_at)
            .await;
    }
    let mut response = (StatusCode::CREATED, Json(shown)).into_response();
    response
        .extensions_mut()
        .insert(ContainerName(outcome.container));
    response.extensions_mut().insert(sandbox_time);
    Ok(response)
}

/// `GET /submissions/{token}`.
/// A submission by its token.
#[utoipa::path(get, path = "/submissions/{token}", tag = "judge0",
    params(("token" = String, Path, description = "The submission's token"),
        ("base64_encoded" = Option<bool>, Query, description = "Texts in base64 both ways"),
        ("fields" = Option<String>, Query, description = "Attributes to show: a comma list, or `*`"),
    ),
    responses(
        (status = 200, description = "The submission", body = crate::api::openapi::wire::Judge0View),
        (status = 404, description = "No such token (or it expired)", body = crate::api::openapi::wire::Judge0Message)
    ), security(("master_key" = []), ("auth_token" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    let query = Query::parse(request.uri())?;
    let service = service(&request);
    keyed(&state, &request.into_parts().0).await?;
    let service = service.ok_or(Judge0Error::Api(ApiError::NotFound))?;
    match service.shown(&token, &query).await {
        Some(answer) => Ok(Json(answer?)),
        None => Err(Judge0Error::Api(ApiError::NotFound)),
    }
}

/// `POST /submissions/batch`: `{"submissions": [...]}`, 1 to 20; for each,
/// in order, its token or its field errors.
/// Several submissions at once (1 to 20), queued.
#[utoipa::path(post, path = "/submissions/batch", tag = "judge0",
    request_body = Judge0Batch,
    params(("base64_encoded" = Option<bool>, Query, description = "Texts in base64")),
    responses((status = 201, description = "For each, in order, its token or its field errors", body = Vec<crate::api::openapi::wire::Judge0BatchItem>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn create_batch(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Judge0Error> {
    let query = Query::parse(request.uri())?;
    let service = service(&request).ok_or_else(no_queue)?;
    let flavor = Flavor::of(&request);
    let body = json_body(&state, request).await?;
    let Some(items) = Judge0Batch::from_body(body) else {
        return Err(Judge0Error::Message(
            StatusCode::BAD_REQUEST,
            "the body must be {\"submissions\": [...]}".into(),
        ));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(Judge0Error::Message(
            StatusCode::BAD_REQUEST,
            format!(
                "number of submissions in a batch must be between 1 and {MAX_BATCH}, not {}",
                items.len()
            ),
        ));
    }
    // Room first: nothing is unpacked for a batch the queue cannot take.
    still_taking(&state, &service)?;
    service.room_for(items.len()).await?;
    let received = as_received(Some(&service), &items, flavor, &query);
    let items = items
        .into_iter()
        .map(Judge0Submission::from_body)
        .collect::<Result<Vec<_>, _>>()?;
    let config = Config::of(&state, Some(service.config()));
    let mut answers: Vec<Option<Value>> = Vec::with_capacity(items.len());
    let mut accepted = Vec::new();
    let prepared = prepare_all(
        &state,
        flavor,
        &config,
        Some(&service.callbacks),
        items,
        query.base64_encoded,
    )
    .await?;
    for (item, received) in prepared.into_iter().zip(received) {
        match item {
            Ok(submission) => {
                let name = language_name(&state, &submission).await?;
                accepted.push(Accepted {
                    submission: Arc::new(submission),
                    language_name: name,
                    received,
                });
                answers.push(None);
            }
            Err(Judge0Error::Fields(errors)) => answers.push(Some(json!(errors))),
            Err(other) => return Err(other),
        }
    }
    let mut tokens = service.submit(accepted).await?.into_iter();
    let answers: Vec<Value> = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| json!({"token": tokens.next()})))
        .collect();
    Ok((StatusCode::CREATED, Json(answers)).into_response())
}

/// `GET /submissions/batch?tokens=a,b,c`: `{"submissions": [...]}`, `null`
/// for a token that is not known.
/// Several submissions by their tokens.
#[utoipa::path(get, path = "/submissions/batch", tag = "judge0",
    params(("tokens" = String, Query, description = "Tokens, comma-separated (1 to 20)"),
        ("base64_encoded" = Option<bool>, Query, description = "Texts in base64 both ways"),
        ("fields" = Option<String>, Query, description = "Attributes to show: a comma list, or `*`"),
    ),
    responses((status = 200, description = "The submissions; `null` for an unknown token", body = crate::api::openapi::wire::Judge0BatchView)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn show_batch(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    let query = Query::parse(request.uri())?;
    let tokens: Vec<String> =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri())
            .map(|q| q.0)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == "tokens")
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect();
    let service = service(&request);
    keyed(&state, &request.into_parts().0).await?;
    if tokens.is_empty() || tokens.len() > MAX_BATCH {
        return Err(Judge0Error::Message(
            StatusCode::BAD_REQUEST,
            format!("tokens must name between 1 and {MAX_BATCH} submissions"),
        ));
    }
    let mut submissions = Vec::with_capacity(tokens.len());
    for token in &tokens {
        let found = match &service {
            Some(service) => service.shown(token, &query).await,
            None => None,
        };
        submissions.push(match found {
            Some(answer) => answer?,
            None => Value::Null,
        });
    }
    Ok(Json(json!({ "submissions": submissions })))
}

/// `GET /workers`: the queue as Judge0 shows its queues.
/// The queue, as Judge0 shows its workers.
#[utoipa::path(get, path = "/workers", tag = "judge0",
    responses((status = 200, description = "The queue", body = Vec<crate::api::openapi::wire::Judge0Worker>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn workers(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    let (service, flavor) = (service(&request), Flavor::of(&request));
    keyed(&state, &request.into_parts().0).await?;
    let load = match &service {
        Some(service) => service.load().await,
        None => Judge0Load::default(),
    };
    Ok(Json(json!([{
        "queue": flavor.version(),
        "size": load.queued,
        "available": load.workers,
        "idle": load.workers.saturating_sub(load.running),
        "working": load.running,
        "paused": 0,
        "failed": 0,
    }])))
}

/// Refuses a new queued submission once a shutdown began, where it would
/// be lost at its end (the embedded queue; the shared one keeps it for
/// other instances): Judge0's 503, so the client submits again (through a
/// balancer, to another instance).
fn still_taking(state: &AppState, service: &Service) -> Result<(), Judge0Error> {
    if state.draining.is_draining() && !service.survives_shutdown() {
        return Err(Judge0Error::Message(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance is shutting down: submit again (wait=true still runs here)".into(),
        ));
    }
    Ok(())
}
