//! What every API's routes share: a route's other methods answered with a
//! 405 in that API's error shape.

use axum::handler::Handler;
use utoipa_axum::router::UtoipaMethodRouter;

use super::state::AppState;

/// A route's other methods answered by `not_allowed` (a 405 in its API's shape).
pub fn refusing_other_methods<H, T>(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    not_allowed: H,
) -> UtoipaMethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    (schemas, paths, method_router.fallback(not_allowed))
}
