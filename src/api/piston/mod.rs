//! Piston's API under `/api/v2`, a thin layer over the same sandbox: its
//! wire types become whipcode's [`crate::api::job::Job`], and the outcome
//! comes back in Piston's fields. Keyed like every route (`X-Master-Key`;
//! Piston's clients reach it through a gateway that adds the header, see
//! `deploy/nginx/`).
//!
//! - [`version`]: semver versions from the images' labels, matched as Piston does.
//! - [`runtimes`]: `GET /api/v2/runtimes`, and the runtime lookup.
//! - [`request`]: `execute`'s body and its validation, in Piston's order.
//! - [`response`]: the outcome in Piston's fields, statuses and units.
//! - [`execute`]: `POST /api/v2/execute`.
//! - [`error`]: Piston's error shape, `{"message"}`.

pub mod error;
pub mod execute;
pub mod request;
pub mod response;
pub mod runtimes;
pub mod version;

use axum::routing::{get, post};
use axum::Router;

use super::error::ApiError;
use super::interactive;
use super::state::AppState;
use error::PistonError;

/// Piston's routes, to be nested under `/api/v2`; each answered with and
/// without a trailing slash (some clients call `runtimes/`).
pub fn routes() -> Router<AppState> {
    let not_allowed = || async { PistonError(ApiError::MethodNotAllowed) };
    Router::new()
        .route("/runtimes", get(runtimes::list).fallback(not_allowed))
        .route("/runtimes/", get(runtimes::list).fallback(not_allowed))
        .route("/execute", post(execute::execute).fallback(not_allowed))
        .route("/execute/", post(execute::execute).fallback(not_allowed))
        .route("/connect", get(interactive::piston).fallback(not_allowed))
        .route("/connect/", get(interactive::piston).fallback(not_allowed))
        .fallback(|| async { PistonError(ApiError::NotFound) })
}
