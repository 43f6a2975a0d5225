//! What every API's routes share: a route's other methods answered with a
//! 405 in that API's error shape; Judge0's trailing slashes ignored.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Uri;
use axum::Router;
use tower::ServiceExt as _;
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

/// Rails ignores a trailing slash, and Judge0's clients send one
/// (`judge0api` posts to `/submissions/`): under each of `prefixes`
/// (Judge0's base paths), one is taken off before `router` routes the
/// request. A router cannot rewrite a path before its own routing, hence
/// the router in front.
pub fn trailing_slash_ignored_under(router: Router, prefixes: Vec<String>) -> Router {
    if prefixes.is_empty() {
        return router;
    }
    Router::new().fallback_service(tower::service_fn(move |mut request: Request| {
        for prefix in &prefixes {
            trim_trailing_slash(prefix, request.uri_mut());
        }
        router.clone().oneshot(request)
    }))
}

/// `uri` without one trailing slash, when its path is below `prefix`.
fn trim_trailing_slash(prefix: &str, uri: &mut Uri) {
    let path = uri.path();
    let below = path
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'));
    let Some(trimmed) = path.strip_suffix('/').filter(|_| below) else {
        return;
    };
    let rebuilt = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    *uri = Uri::from_parts(parts).unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_slash_is_taken_off_below_the_prefix_only() {
        let trimmed = |text: &str| {
            let mut uri: Uri = text.parse().unwrap();
            trim_trailing_slash("/judge0", &mut uri);
            uri.to_string()
        };
        assert_eq!(trimmed("/judge0/submissions/"), "/judge0/submissions");
        assert_eq!(
            trimmed("/judge0/submissions/abc/?fields=*"),
            "/judge0/submissions/abc?fields=*"
        );
        assert_eq!(trimmed("/judge0/languages"), "/judge0/languages");
        assert_eq!(trimmed("/judge0/"), "/judge0/");
        assert_eq!(
            trimmed("/run/"),
            "/run/",
            "whipcode's own routes are as they were"
        );
        assert_eq!(trimmed("/judge0x/a/"), "/judge0x/a/");
    }
}
