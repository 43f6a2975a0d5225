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
//! - [`flavor`]: Judge0 CE or Extra CE: the ids and version of a base path.
//! - [`languages`]: `GET /languages`, `/languages/all`, `/languages/{id}`.
//! - [`info`]: statuses, about, version, license, isolate, statistics, config_info.
//! - [`system_info`]: `GET /system_info`.
//! - [`statistics`]: submissions counted as they finish, for `GET /statistics`.
//! - [`submissions`]: the submission routes, with and without `wait`.
//! - [`queue`]: the asynchronous API as the handlers see it, whatever
//!   backend keeps it.
//! - [`backend`]: what every backend shares: its sizes, what it takes and
//!   refuses, and how its workers run a submission.
//! - [`embedded`]: the embedded backend: a bounded channel, this instance's
//!   workers, and the store.
//! - [`store`]: the embedded store of submissions by token.
//! - [`shared`]: the shared store (`--store`): the queue and results in Redis.
//! - [`view`]: a submission's every attribute, as a shared store keeps it.
//! - [`callback`]: `callback_url`, checked against an allow-list.
//! - [`sessions`]: `POST /authenticate`, `POST /authorize`, and what needs
//!   Judge0's authorization token (listing and deleting submissions).
//! - [`browsers`]: `--cors-origins`: Judge0's CORS for the pages listed, a
//!   refusal for any other page.
//! - [`error`]: Judge0's error shapes.

pub mod backend;
pub mod browsers;
pub mod callback;
pub mod config;
pub mod embedded;
pub mod error;
pub mod fields;
pub mod files;
pub mod flavor;
pub mod info;
pub mod languages;
pub mod queue;
pub mod request;
pub mod response;
pub mod sessions;
pub mod shared;
pub mod statistics;
pub mod store;
pub mod submissions;
pub mod system_info;
pub mod verdict;
pub mod view;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::AppState;
use error::Judge0Error;
use flavor::Flavor;

/// Judge0's routes in `flavor`, to be nested under its base path; the
/// asynchronous ones answer only with a queue (`service`); browsers as
/// `origins` allows.
pub fn routes(
    service: Option<Arc<queue::Service>>,
    flavor: Flavor,
    origins: Arc<crate::origins::CorsOrigins>,
) -> OpenApiRouter<AppState> {
    let not_allowed = || async { Judge0Error::Api(ApiError::MethodNotAllowed) };
    let refuse = crate::api::routing::refusing_other_methods;
    let router = OpenApiRouter::new()
        .routes(refuse(
            routes!(submissions::create, sessions::index),
            not_allowed,
        ))
        .routes(refuse(
            routes!(submissions::create_batch, submissions::show_batch),
            not_allowed,
        ))
        .routes(refuse(
            routes!(submissions::show, sessions::destroy),
            not_allowed,
        ))
        .routes(refuse(routes!(submissions::workers), not_allowed))
        .routes(refuse(routes!(languages::languages), not_allowed))
        .routes(refuse(routes!(languages::all), not_allowed))
        .routes(refuse(routes!(languages::language), not_allowed))
        .routes(refuse(routes!(info::statuses), not_allowed))
        .routes(refuse(routes!(info::about), not_allowed))
        .routes(refuse(routes!(info::version), not_allowed))
        .routes(refuse(routes!(info::license), not_allowed))
        .routes(refuse(routes!(info::isolate), not_allowed))
        .routes(refuse(routes!(system_info::system_info), not_allowed))
        .routes(refuse(routes!(info::statistics), not_allowed))
        .routes(refuse(routes!(info::config_info), not_allowed))
        .routes(refuse(routes!(sessions::authenticate), not_allowed))
        .routes(refuse(routes!(sessions::authorize), not_allowed))
        .fallback(|| async { Judge0Error::Api(ApiError::NotFound) })
        .layer(axum::middleware::from_fn(auth_token_as_key))
        .layer(axum::Extension(flavor))
        .layer(browsers::BrowserLayer::new(origins));
    match service {
        Some(service) => router.layer(axum::Extension(service)),
        None => router,
    }
}

/// The query parameter Judge0's sessions read the token from when the
/// header is absent (`request.headers[h] || params[h]`).
const TOKEN_PARAM: &str = "X-Auth-Token";

/// Judge0's `X-Auth-Token` stands for the master key when no
/// `X-Master-Key` is given; as Judge0, the token may come as a query
/// parameter instead. The parameter is taken out of the URI here, so no
/// handler, log or error ever sees the key in it.
async fn auth_token_as_key(mut request: Request, next: Next) -> Response {
    let from_query = take_query_token(request.uri_mut());
    let headers = request.headers_mut();
    if !headers.contains_key("x-master-key") {
        let token = headers.get("x-auth-token").cloned().or_else(|| {
            from_query.and_then(|token| axum::http::HeaderValue::from_str(&token).ok())
        });
        if let Some(token) = token {
            headers.insert("x-master-key", token);
        }
    }
    next.run(request).await
}

/// Removes [`TOKEN_PARAM`] from `uri`'s query; its last value, if any.
fn take_query_token(uri: &mut axum::http::Uri) -> Option<String> {
    let query = uri.query()?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let token = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == TOKEN_PARAM)?
        .1
        .clone();
    let kept = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(k, _)| k != TOKEN_PARAM))
        .finish();
    let path = uri.path();
    let rebuilt = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{kept}")
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    *uri = axum::http::Uri::from_parts(parts).unwrap_or_default();
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_parameter_is_taken_out_of_the_query() {
        let mut uri: axum::http::Uri = "/submissions?wait=true&X-Auth-Token=s%20k&fields=a,b"
            .parse()
            .unwrap();
        assert_eq!(take_query_token(&mut uri).as_deref(), Some("s k"));
        assert_eq!(uri.path(), "/submissions");
        let query = uri.query().unwrap();
        assert!(!query.contains("Auth"), "{query}");
        assert!(query.contains("wait=true"), "{query}");
        let mut alone: axum::http::Uri = "/languages?X-Auth-Token=k".parse().unwrap();
        assert_eq!(take_query_token(&mut alone).as_deref(), Some("k"));
        assert_eq!(alone.to_string(), "/languages");
        let mut none: axum::http::Uri = "/languages?wait=true".parse().unwrap();
        assert_eq!(take_query_token(&mut none), None);
        assert_eq!(none.to_string(), "/languages?wait=true");
    }
}
