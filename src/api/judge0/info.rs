//! Judge0's read-only endpoints: `GET /languages`, `/languages/{id}`,
//! `/statuses`, `/about`, `/config_info`. Keyed like every route.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde_json::{json, Value};

use super::config::Config;
use super::error::Judge0Error;
use super::verdict::{Shown, Status};
use crate::api::intake::keyed;
use crate::api::piston::runtimes::{installed, Installed};
use crate::api::state::AppState;

/// The Judge0 release whose API this is: the official SDK looks its table
/// of language aliases up by this string.
pub const VERSION: &str = "1.13.1";

/// A language's name in Judge0's style: `Python (3.11.2)`.
pub fn judge0_name(runtime: &Installed) -> String {
    format!("{} ({})", runtime.language.name, runtime.version)
}

/// `GET /languages`: `[{"id", "name"}]`, the installed languages under the
/// id Judge0 lists for each, sorted by name as Judge0 sorts them.
/// The installed languages, under Judge0's ids.
#[utoipa::path(get, path = "/languages", tag = "judge0",
    responses((status = 200, description = "The languages", body = Vec<crate::api::openapi::wire::Judge0Language>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn languages(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Value>>, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    let mut listed: Vec<(String, u32)> = installed(&state)
        .await?
        .iter()
        .filter_map(|r| Some((judge0_name(r), r.language.judge0.as_ref()?.shown)))
        .collect();
    listed.sort();
    Ok(Json(
        listed
            .into_iter()
            .map(|(name, id)| json!({"id": id, "name": name}))
            .collect(),
    ))
}

/// `GET /languages/{id}`: one language, by any of its Judge0 ids.
/// One language, by any of its Judge0 ids.
#[utoipa::path(get, path = "/languages/{id}", tag = "judge0",
    params(("id" = i64, Path, description = "A Judge0 language id")),
    responses(
        (status = 200, description = "The language", body = crate::api::openapi::wire::Judge0LanguageDetail),
        (status = 404, description = "No installed language has this id", body = crate::api::openapi::wire::Judge0Message)
    ), security(("master_key" = []), ("auth_token" = [])))]
pub async fn language(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    let id: u32 = id.parse().map_err(|_| not_found())?;
    let runtimes = installed(&state).await?;
    let runtime = runtimes
        .iter()
        .find(|r| {
            r.language
                .judge0
                .as_ref()
                .is_some_and(|j| j.ids.contains(&id))
        })
        .ok_or_else(not_found)?;
    let language = &runtime.language;
    let command = |argv: Option<&Vec<String>>| argv.map(|a| a.join(" "));
    Ok(Json(json!({
        "id": id,
        "name": judge0_name(runtime),
        "is_archived": false,
        "source_file": language.source,
        "compile_cmd": command(language.compile.as_ref()),
        "run_cmd": command(Some(&language.run)),
    })))
}

fn not_found() -> Judge0Error {
    Judge0Error::Api(crate::api::error::ApiError::NotFound)
}

/// `GET /statuses`: `[{"id", "description"}]`, 1 to 14.
/// Judge0's statuses, 1 to 14.
#[utoipa::path(get, path = "/statuses", tag = "judge0",
    responses((status = 200, description = "The statuses", body = Vec<crate::api::openapi::wire::Judge0Status>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn statuses(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Shown>>, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(Status::ALL.iter().map(|s| s.shown()).collect()))
}

/// `GET /about`.
/// What this server is.
#[utoipa::path(get, path = "/about", tag = "judge0",
    responses((status = 200, description = "About", body = crate::api::openapi::wire::Judge0About)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn about(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(json!({
        "version": VERSION,
        "homepage": "https://github.com/Whipcode-API/whipcode",
        "source_code": "https://github.com/Whipcode-API/whipcode",
        "maintainer": "whipcode (a Judge0 CE 1.13.1-compatible API over whipcode's sandbox)",
    })))
}

/// `GET /config_info`.
/// The limits and features in force.
#[utoipa::path(get, path = "/config_info", tag = "judge0",
    responses((status = 200, description = "The configuration", body = super::config::Config)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn config_info(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Config>, Judge0Error> {
    let service = request
        .extensions()
        .get::<std::sync::Arc<super::queue::Service>>()
        .cloned();
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(Config::of(&state, service.map(|s| s.config()))))
}
