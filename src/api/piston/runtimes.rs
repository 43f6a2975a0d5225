//! `GET /api/v2/runtimes`: the installed languages under Piston's names,
//! with their aliases and semver versions.

use axum::extract::{Request, State};
use axum::Json;
use serde::Serialize;

use super::error::PistonError;
use super::version::normalize;
use crate::api::run::authorize;
use crate::api::state::{admit, AppState};

#[derive(Debug, Serialize)]
pub struct Runtime {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
}

pub async fn list(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Runtime>>, PistonError> {
    let (parts, _) = request.into_parts();
    admit(&state, &parts)?;
    authorize(&state, &parts).await?;
    let images = state.installed_images().await?;
    let mut runtimes: Vec<Runtime> = state
        .languages
        .iter()
        .filter_map(|language| {
            let piston = language.piston.as_ref()?;
            let image = language.image_ref();
            let recorded = images
                .iter()
                .find(|i| i.reference == image)?
                .version
                .as_deref()?;
            Some(Runtime {
                language: piston.language.clone(),
                version: normalize(recorded)?.to_string(),
                aliases: piston.aliases.clone(),
            })
        })
        .collect();
    runtimes.sort_by(|a, b| a.language.cmp(&b.language));
    Ok(Json(runtimes))
}
