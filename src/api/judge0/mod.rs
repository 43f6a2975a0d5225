//! Judge0 CE 1.13.1's API under a base path (`--judge0-path`, `/judge0` by
//! default; Judge0's clients take a base URL, and `GET /languages` at the
//! root is whipcode's own). A thin layer like Piston's: a submission
//! becomes whipcode's [`crate::api::job::Job`] (one compile, then
//! `number_of_runs` runs in the same container), and the outcome comes back
//! as Judge0's verdict, fields and units. `X-Auth-Token`, Judge0's header,
//! is taken as the master key here, as is `X-Master-Key`.
//!
//! - [`request`]: the query and the body, validated as Judge0 validates them.
//! - [`files`]: `additional_files`, a bounded zip.
//! - [`verdict`]: statuses 1–14 and how one is picked.
//! - [`response`]: the finished submission in Judge0's fields.
//! - [`fields`]: the `fields` selection.
//! - [`config`]: this server's Judge0 limits (`GET /config_info`).
//! - [`info`]: languages, statuses, about, config_info.
//! - [`submissions`]: the submission routes, with and without `wait`.
//! - [`queue`]: the asynchronous API's bounded queue and its workers.
//! - [`store`]: its embedded store of submissions by token.
//! - [`callback`]: `callback_url`, checked against an allow-list.
//! - [`error`]: Judge0's error shapes.

pub mod callback;
pub mod config;
pub mod error;
pub mod fields;
pub mod files;
pub mod info;
pub mod queue;
pub mod request;
pub mod response;
pub mod store;
pub mod submissions;
pub mod verdict;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::AppState;
use error::Judge0Error;

/// Judge0's routes, to be nested under the base path; the asynchronous
/// ones answer only with a queue (`service`).
pub fn routes(service: Option<Arc<queue::Service>>) -> OpenApiRouter<AppState> {
    let not_allowed = || async { Judge0Error::Api(ApiError::MethodNotAllowed) };
    let refuse = crate::api::routing::refusing_other_methods;
    let router = OpenApiRouter::new()
        .routes(refuse(routes!(submissions::create), not_allowed))
        .routes(refuse(
            routes!(submissions::create_batch, submissions::show_batch),
            not_allowed,
        ))
        .routes(refuse(routes!(submissions::show), not_allowed))
        .routes(refuse(routes!(submissions::workers), not_allowed))
        .routes(refuse(routes!(info::languages), not_allowed))
        .routes(refuse(routes!(info::language), not_allowed))
        .routes(refuse(routes!(info::statuses), not_allowed))
        .routes(refuse(routes!(info::about), not_allowed))
        .routes(refuse(routes!(info::config_info), not_allowed))
        .fallback(|| async { Judge0Error::Api(ApiError::NotFound) })
        .layer(axum::middleware::from_fn(auth_token_as_key));
    match service {
        Some(service) => router.layer(axum::Extension(service)),
        None => router,
    }
}

/// Judge0's `X-Auth-Token` stands for the master key when no
/// `X-Master-Key` is given.
async fn auth_token_as_key(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    if !headers.contains_key("x-master-key") {
        if let Some(token) = headers.get("x-auth-token").cloned() {
            headers.insert("x-master-key", token);
        }
    }
    next.run(request).await
}
