//! Piston's API under `/api/v2`, a thin layer over the same sandbox: its
//! wire types become whipcode's [`crate::api::job::Job`], and the outcome
//! comes back in Piston's fields. Keyed like every route (`X-Master-Key`;
//! Piston's clients reach it through a gateway that adds the header, see
//! `deploy/nginx/`).
//!
//! - [`version`]: semver versions from the images' labels, matched as Piston does.
//! - [`runtimes`]: `GET /api/v2/runtimes`, and the runtime lookup.
//! - [`request`]: `execute`'s (and `init`'s) body, typed, and each field's rule.
//! - [`job`]: that body turned into the sandbox's job, in Piston's order.
//! - [`response`]: the outcome in Piston's fields, statuses and units.
//! - [`execute`]: `POST /api/v2/execute`.
//! - [`packages`]: `GET /api/v2/packages`, read-only.
//! - [`error`]: Piston's error shape, `{"message"}`.

pub mod error;
pub mod execute;
pub mod job;
pub mod packages;
pub mod request;
pub mod response;
pub mod runtimes;
pub mod version;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::interactive;
use super::state::AppState;
use error::PistonError;

/// Piston's routes, to be nested under `/api/v2`; each answered with and
/// without a trailing slash (some clients call `runtimes/`).
pub fn routes() -> OpenApiRouter<AppState> {
    let not_allowed = || async { PistonError(ApiError::MethodNotAllowed) };
    let refuse = super::routing::refusing_other_methods;
    OpenApiRouter::new()
        .routes(refuse(routes!(runtimes::list), not_allowed))
        .routes(refuse(routes!(runtimes_slash), not_allowed))
        .routes(refuse(routes!(execute::execute), not_allowed))
        .routes(refuse(routes!(packages::list), not_allowed))
        .routes(refuse(routes!(execute_slash), not_allowed))
        .routes(refuse(routes!(interactive::piston), not_allowed))
        .routes(refuse(routes!(connect_slash), not_allowed))
        .fallback(|| async { PistonError(ApiError::NotFound) })
}

/// `runtimes/`, as some clients call it.
#[utoipa::path(get, path = "/runtimes/", tag = "piston",
    responses((status = 200, description = "The runtimes", body = Vec<runtimes::Runtime>)),
    security(("master_key" = [])))]
async fn runtimes_slash(
    state: State<AppState>,
    request: Request,
) -> Result<Json<Vec<runtimes::Runtime>>, PistonError> {
    runtimes::list(state, request).await
}

/// `execute/`, as some clients call it.
#[utoipa::path(post, path = "/execute/", tag = "piston",
    request_body = request::PistonExecute,
    responses((status = 200, description = "The stages' results", body = response::ExecuteResponse)),
    security(("master_key" = [])))]
async fn execute_slash(state: State<AppState>, request: Request) -> Result<Response, PistonError> {
    execute::execute(state, request).await
}

/// `connect/`, as some clients call it.
#[utoipa::path(get, path = "/connect/", tag = "piston",
    responses(crate::api::openapi::wire::PistonUpgrade),
    security(("master_key" = [])))]
async fn connect_slash(state: State<AppState>, request: Request) -> Result<Response, PistonError> {
    interactive::piston(state, request).await
}
