//! The two dialects a session speaks: which API's `init` it takes, and the
//! `runtime` message it answers with.

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::api::job::Job;
use crate::api::piston::job::prepare;
use crate::api::piston::request::PistonExecute;
use crate::api::request::{self, RunBody, RunRequest};
use crate::api::state::AppState;

/// Which API's `init` a session takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Piston,
    Whipcode,
}

impl Dialect {
    /// The job `init` asks for, and the `runtime` message that answers it.
    pub(super) async fn prepare(
        self,
        state: &AppState,
        init: Value,
    ) -> Result<(Job, Value), ApiError> {
        match self {
            Dialect::Piston => piston_init(state, init).await,
            Dialect::Whipcode => whipcode_init(state, init),
        }
    }
}

/// Piston's `init`: `execute`'s body (and its validation) with a `type`,
/// which, as any field Piston does not know, is ignored. The job, and the
/// `runtime` message naming its runtime.
async fn piston_init(state: &AppState, init: Value) -> Result<(Job, Value), ApiError> {
    let execute = prepare(state, PistonExecute::from_json(init)?).await?;
    let runtime = json!({"type": "runtime", "language": execute.runtime.name(),
                         "version": execute.runtime.version.to_string()});
    Ok((execute.job, runtime))
}

/// whipcode's `init`: `POST /run`'s body (and its validation) with a `type`
/// (and maybe a `ticket`), which [`RunBody`] ignores as it does any field
/// it does not know.
fn whipcode_init(state: &AppState, init: Value) -> Result<(Job, Value), ApiError> {
    let body: RunBody =
        serde_json::from_value(init).map_err(|e| ApiError::bad(format!("invalid init: {e}")))?;
    let context = request::Context {
        languages: &state.languages,
        max_timeout: state.max_timeout,
        max_files: state.max_files,
    };
    let run = RunRequest::try_from((body, &context))?;
    let runtime = json!({"type": "runtime", "language": run.language.name,
                         "language_id": run.language.id});
    Ok((Job::from(run), runtime))
}
