//! Judge0's read-only endpoints besides the languages: `GET /statuses`,
//! `/about`, `/version`, `/license`, `/isolate`, `/statistics` and
//! `/config_info`. Keyed like every route (Judge0's too, behind its token).

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::config::Config;
use super::error::Judge0Error;
use super::flavor::Flavor;
use super::statistics::{Pending, Statistics};
use super::verdict::{Shown, Status};
use crate::api::intake::keyed;
use crate::api::state::AppState;

/// This server's license, as Judge0 answers `GET /license` with its own.
const LICENSE: &str = include_str!("../../../LICENSE");

/// What `GET /isolate` answers: Judge0 runs `isolate --version`; this
/// server has no isolate, and says what it runs programs in instead.
const ISOLATE: &str = "This server does not run isolate: each submission runs in a fresh \
container (crun, on images podman builds), under whipcode's own limits and seccomp profile.\n";

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
/// What this server is; `version` tells the SDK the flavour.
#[utoipa::path(get, path = "/about", tag = "judge0",
    responses((status = 200, description = "About", body = crate::api::openapi::wire::Judge0About)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn about(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(json!({
        "version": flavor.version(),
        "homepage": "https://github.com/Whipcode-API/whipcode",
        "source_code": "https://github.com/Whipcode-API/whipcode",
        "maintainer": "whipcode (a Judge0 CE 1.13.1-compatible API over whipcode's sandbox)",
    })))
}

/// `GET /version`: the version alone, as plain text.
/// The Judge0 version this API is (plain text).
#[utoipa::path(get, path = "/version", tag = "judge0",
    responses((status = 200, description = "The version", body = String, content_type = "text/plain")), security(("master_key" = []), ("auth_token" = [])))]
pub async fn version(
    State(state): State<AppState>,
    request: Request,
) -> Result<impl IntoResponse, Judge0Error> {
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    Ok(plain(flavor.version()))
}

/// `GET /license`.
/// This server's license (plain text).
#[utoipa::path(get, path = "/license", tag = "judge0",
    responses((status = 200, description = "The license", body = String, content_type = "text/plain")), security(("master_key" = []), ("auth_token" = [])))]
pub async fn license(
    State(state): State<AppState>,
    request: Request,
) -> Result<impl IntoResponse, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    Ok(plain(LICENSE))
}

/// `GET /isolate`.
/// What runs the programs: not isolate (plain text).
#[utoipa::path(get, path = "/isolate", tag = "judge0",
    responses((status = 200, description = "The sandbox", body = String, content_type = "text/plain")), security(("master_key" = []), ("auth_token" = [])))]
pub async fn isolate(
    State(state): State<AppState>,
    request: Request,
) -> Result<impl IntoResponse, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    Ok(plain(ISOLATE))
}

fn plain(text: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

/// `GET /statistics` (see [`super::statistics`]).
/// Submissions counted by day, language and status.
#[utoipa::path(get, path = "/statistics", tag = "judge0",
    params(("invalidate_cache" = Option<bool>, Query, description = "Accepted and ignored: nothing is cached")),
    responses((status = 200, description = "Submissions since this server started, and pending now", body = Object)),
    security(("master_key" = []), ("auth_token" = [])))]
pub async fn statistics(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, Judge0Error> {
    let service = request
        .extensions()
        .get::<std::sync::Arc<super::queue::Service>>()
        .cloned();
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    let now = time::OffsetDateTime::now_utc();
    Ok(Json(match service {
        Some(service) => {
            let load = service.load().await;
            let pending = Pending {
                queued: load.queued as u64,
                running: load.running as u64,
            };
            service.statistics().shown(flavor, pending, now)
        }
        None => Statistics::default().shown(flavor, Pending::default(), now),
    }))
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
