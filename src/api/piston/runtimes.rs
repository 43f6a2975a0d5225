//! `GET /api/v2/runtimes`: the installed languages under Piston's names,
//! with their aliases and semver versions; and the lookup `execute` makes
//! among the same runtimes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::Json;
use semver::Version;
use serde::Serialize;

use super::error::PistonError;
use super::version::{best, normalize, requirement};
use crate::api::error::ApiError;
use crate::api::intake::keyed;
use crate::api::state::AppState;
use crate::languages::Language;
use crate::sandbox::InstalledImage;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PistonRuntime)]
pub struct Runtime {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
}

/// A language that can run here, with the version Piston's clients see.
#[derive(Debug, Clone)]
pub struct Installed {
    pub language: Arc<Language>,
    pub version: Version,
}

impl Installed {
    /// Its Piston name (its own name where it has none: Judge0's Plain Text).
    pub fn name(&self) -> &str {
        self.language
            .piston
            .as_ref()
            .map_or(self.language.name.as_str(), |p| p.language.as_str())
    }

    fn answers_to(&self, name: &str) -> bool {
        self.language
            .piston
            .as_ref()
            .is_some_and(|p| p.all().any(|n| n == name))
    }
}

/// How old a list of images `execute` uses without waiting for a fresh one.
const LOOKUP_GRACE: Duration = Duration::from_secs(60);

/// The languages whose image is installed and records a version (a fresh
/// list): Judge0's listing shows them all, Piston's those with a Piston name.
pub async fn installed(state: &AppState) -> Result<Vec<Installed>, ApiError> {
    Ok(from_images(state, &state.installed_images().await?))
}

/// The same for a run's lookup: a list up to [`LOOKUP_GRACE`] old is used
/// at once (refreshed behind it), so a run never waits for podman's listing.
pub async fn for_lookup(state: &AppState) -> Result<Vec<Installed>, ApiError> {
    Ok(from_images(
        state,
        &state.installed_images_within(LOOKUP_GRACE).await?,
    ))
}

fn from_images(state: &AppState, images: &[InstalledImage]) -> Vec<Installed> {
    state
        .languages
        .iter()
        .filter_map(|language| {
            Some(Installed {
                version: recorded_version(language, images)?,
                language: language.clone(),
            })
        })
        .collect()
}

fn recorded_version(language: &Language, images: &[InstalledImage]) -> Option<Version> {
    let image = language.image_ref();
    let recorded = images
        .iter()
        .find(|i| i.reference == image)?
        .version
        .as_deref()?;
    normalize(recorded)
}

/// The runtime `name` (a Piston name or alias) in the highest version
/// `wanted` (a semver range) matches, as Piston picks it.
pub fn find<'a>(runtimes: &'a [Installed], name: &str, wanted: &str) -> Option<&'a Installed> {
    let wanted = requirement(wanted)?;
    let candidates: Vec<&Installed> = runtimes.iter().filter(|r| r.answers_to(name)).collect();
    let version = best(&wanted, candidates.iter().map(|r| &r.version))?;
    candidates.into_iter().find(|r| &r.version == version)
}

/// The runtimes installed here, as Piston lists them.
#[utoipa::path(get, path = "/runtimes", tag = "piston", operation_id = "runtimes",
    responses((status = 200, description = "The runtimes", body = Vec<Runtime>)), security(("master_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Runtime>>, PistonError> {
    let runtimes = listed(&state, request).await?;
    Ok(Json(
        runtimes
            .into_iter()
            .map(|r| Runtime {
                language: r.name().to_owned(),
                version: r.version.to_string(),
                aliases: r
                    .language
                    .piston
                    .as_ref()
                    .map(|p| p.aliases.clone())
                    .unwrap_or_default(),
            })
            .collect(),
    ))
}

/// For a keyed `request`: the installed runtimes with a Piston name, by
/// that name (what the runtimes and packages lists show).
pub async fn listed(state: &AppState, request: Request) -> Result<Vec<Installed>, PistonError> {
    let (parts, _) = request.into_parts();
    keyed(state, &parts).await?;
    let mut runtimes = installed(state).await?;
    runtimes.retain(|r| r.language.piston.is_some());
    runtimes.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(runtimes)
}
