//! `GET /languages` (key required): every language in the map, the toolchain
//! version recorded in its image, and whether that image is installed (from
//! the view it shares with `/ready`, [`super::installed`]).

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::intake::keyed;
use super::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LanguageInfo {
    pub id: u32,
    pub name: String,
    pub image: String,
    /// From the image's `whipcode.version` label; `null` when not installed.
    pub version: Option<String>,
    pub installed: bool,
    /// What a user should know about this language here (e.g. an unmaintained toolchain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing {
    pub languages: Vec<LanguageInfo>,
}

/// Every language, its toolchain version and whether its image is installed.
#[utoipa::path(get, path = "/languages", tag = "whipcode", operation_id = "languages",
    responses((status = 200, description = "The languages", body = Listing)),
    security(("master_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Listing>, ApiError> {
    let (parts, _) = request.into_parts();
    keyed(&state, &parts).await?;
    let images = state.installed_images().await?;
    let versions: HashMap<&str, Option<&String>> = images
        .iter()
        .map(|image| (image.reference.as_str(), image.version.as_ref()))
        .collect();
    let languages = state
        .languages
        .iter()
        .map(|lang| {
            let image = lang.image_ref();
            let found = versions.get(image.as_str());
            LanguageInfo {
                id: lang.id,
                name: lang.name.clone(),
                installed: found.is_some(),
                version: found.copied().flatten().cloned(),
                image,
                notice: lang.notice.clone(),
            }
        })
        .collect();
    Ok(Json(Listing { languages }))
}
