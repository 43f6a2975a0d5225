//! `GET /api/v2/packages`: Piston's package list, read-only. `piston ppman
//! list` (the first command of Piston's CLI) reads it. Every runtime here is
//! an image built on the host (`whipcode --build-images`), so each listed
//! package is installed; installing and uninstalling through the API
//! (`POST`, `DELETE`) are refused in Piston's shape (405).

use axum::extract::{Request, State};
use axum::Json;
use serde::Serialize;

use super::error::PistonError;
use super::runtimes::listed;
use crate::api::state::AppState;

/// One package as Piston lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PistonPackage)]
pub struct Package {
    pub language: String,
    pub language_version: String,
    pub installed: bool,
}

/// The installed runtimes as Piston's packages.
#[utoipa::path(get, path = "/packages", tag = "piston", operation_id = "packages",
    responses((status = 200, description = "The packages, every one installed", body = Vec<Package>)),
    security(("master_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Package>>, PistonError> {
    let runtimes = listed(&state, request).await?;
    Ok(Json(
        runtimes
            .into_iter()
            .map(|r| Package {
                language: r.name().to_owned(),
                language_version: r.version.to_string(),
                installed: true,
            })
            .collect(),
    ))
}
