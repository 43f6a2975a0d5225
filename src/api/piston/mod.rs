//! Piston's API under `/api/v2`, served over the same sandbox. In progress:
//! so far `GET /api/v2/runtimes` and Piston's 404 for other paths below it.
//!
//! - [`version`]: semver versions from the images' labels, matched as Piston does.
//! - [`runtimes`]: `GET /api/v2/runtimes`.
//! - [`error`]: Piston's error shape, `{"message"}`.

pub mod error;
pub mod runtimes;
pub mod version;

use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::state::AppState;
use error::PistonError;

/// Piston's routes, to be nested under `/api/v2`; each answered with and
/// without a trailing slash (some clients call `runtimes/`).
pub fn routes() -> Router<AppState> {
    let not_allowed = || async { PistonError(ApiError::MethodNotAllowed) };
    Router::new()
        .route("/runtimes", get(runtimes::list).fallback(not_allowed))
        .route("/runtimes/", get(runtimes::list).fallback(not_allowed))
        .fallback(|| async { PistonError(ApiError::NotFound) })
}
