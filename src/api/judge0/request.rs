//! `POST /submissions`: the query (`base64_encoded`, `wait`, `fields`),
//! the body's fields in Judge0's units, Judge0's validation (every field's
//! errors at once, as a 422 of `{"field": ["message", …]}`), and the job
//! the submission becomes.
//!
//! - [`body`]: the body as sent ([`Judge0Submission`], [`Judge0Batch`]),
//!   each field beside its rule.
//! - [`convert`]: a body checked into a [`Submission`] (a `TryFrom`).
//! - [`submission`]: what a checked submission is.
//! - [`source`]: its files, from `source_code` and `additional_files`.
//! - [`errors`]: the field errors gathered on the way.

mod body;
mod convert;
mod errors;
mod source;
mod submission;

use std::collections::BTreeMap;

use super::config::Config;
use super::error::Judge0Error;
use super::fields::Fields;
use super::files;
use super::flavor::Flavor;
use crate::api::lenient::Lenient;
use crate::api::state::AppState;
pub use body::{Judge0Batch, Judge0Submission};
pub use convert::{judge0_language, prepare, Context};
pub use submission::{Chosen, Submission};

/// The query of `POST /submissions`.
#[derive(Debug, Clone)]
pub struct Query {
    pub base64_encoded: bool,
    pub wait: bool,
    pub fields: Fields,
}

impl Query {
    /// From the request's query string, as Rails reads it (`true` is
    /// true, anything else false; the last of repeated keys wins).
    pub fn parse(uri: &axum::http::Uri) -> Result<Query, Judge0Error> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .map_err(|_| {
                Judge0Error::Message(
                    axum::http::StatusCode::BAD_REQUEST,
                    "the query string cannot be read".into(),
                )
            })?;
        let get = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        Ok(Query {
            base64_encoded: get("base64_encoded") == Some("true"),
            wait: get("wait") == Some("true"),
            fields: Fields::parse(get("fields"))?,
        })
    }
}

/// Each of one request's `bodies` checked into a [`Submission`], with its
/// `callback_url` checked by `callbacks` (none: refused) and its errors among
/// the others. The callbacks are checked first (they resolve names); the rest
/// runs off the async runtime, since unpacking archives reads and inflates,
/// every body taking from one budget of unpacked bytes.
pub async fn prepare_all(
    state: &AppState,
    flavor: Flavor,
    config: &Config,
    callbacks: Option<&super::callback::Callbacks>,
    bodies: Vec<Judge0Submission>,
    base64_encoded: bool,
) -> Result<Vec<Result<Submission, Judge0Error>>, Judge0Error> {
    // At once (each lookup has its own deadline), so a batch waits for its
    // slowest name, not for the sum of them.
    // A JoinSet: the lookups end with the request if its client goes away.
    let mut checks = tokio::task::JoinSet::new();
    for (index, body) in bodies.iter().enumerate() {
        let (callbacks, given) = (callbacks.cloned(), body.callback_url.clone());
        checks.spawn(async move { (index, callback_url(callbacks.as_ref(), given).await) });
    }
    let mut callback_urls: Vec<Result<Option<url::Url>, String>> =
        vec![Err("could not be checked".to_owned()); bodies.len()];
    while let Some(checked) = checks.join_next().await {
        if let Ok((index, url)) = checked {
            callback_urls[index] = url;
        }
    }
    let archives = bodies.iter().any(|body| !body.additional_files.is_absent());
    let turn = if archives {
        let turn = files::unpacking_turn().await.ok_or_else(|| {
            Judge0Error::Message(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too many archives are being unpacked: try again".into(),
            )
        })?;
        Some(turn)
    } else {
        None
    };
    let (state, config) = (state.clone(), config.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        // The turn ends with the unpacking, not with the request: a client
        // that hangs up does not free it early.
        let _turn = turn;
        let mut cx = Context {
            state: &state,
            flavor,
            config: &config,
            base64_encoded,
            budget: files::REQUEST_BUDGET,
        };
        bodies
            .into_iter()
            .map(|body| Submission::try_from((body, &mut cx)))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "preparing Judge0 submissions failed");
        Judge0Error::Api(crate::api::error::ApiError::Internal)
    })?;
    Ok(prepared
        .into_iter()
        .zip(callback_urls)
        .map(|(submission, url)| with_callback(submission, url))
        .collect())
}

/// `callback_url` as `callbacks` allow it.
async fn callback_url(
    callbacks: Option<&super::callback::Callbacks>,
    given: Lenient<String>,
) -> Result<Option<url::Url>, String> {
    match given {
        Lenient::Absent => Ok(None),
        Lenient::Read(url) => match callbacks {
            Some(callbacks) => callbacks.check(&url).await.map(Some).map_err(|r| r.0),
            None => Err("setting callback is not allowed".to_owned()),
        },
        Lenient::Invalid(_) => Err("must be a string".to_owned()),
    }
}

fn with_callback(
    submission: Result<Submission, Judge0Error>,
    callback: Result<Option<url::Url>, String>,
) -> Result<Submission, Judge0Error> {
    match (submission, callback) {
        (Ok(mut submission), Ok(url)) => {
            submission.callback_url = url;
            Ok(submission)
        }
        (Err(Judge0Error::Fields(mut errors)), Err(why)) => {
            errors.entry("callback_url".into()).or_default().push(why);
            Err(Judge0Error::Fields(errors))
        }
        (Err(e), _) => Err(e),
        (Ok(_), Err(why)) => Err(Judge0Error::Fields(BTreeMap::from([(
            "callback_url".to_owned(),
            vec![why],
        )]))),
    }
}
