//! Judge0's languages: `GET /languages`, `/languages/all` and
//! `/languages/{id}`, in the flavour of the base path asked (CE or Extra
//! CE ids). A language is listed under every id that means it, as Judge0
//! lists every version it has (C++ as 52, 53 and 54): a client that
//! looks for any of them finds it. Each shows this server's one toolchain
//! of the language, so the entries of one language carry the same name.

use axum::extract::{Path, Request, State};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::Judge0Error;
use super::flavor::Flavor;
use crate::api::intake::keyed;
use crate::api::piston::runtimes::{installed, Installed};
use crate::api::state::AppState;

/// A language's name in Judge0's style: `Python (3.11.2)`, or the name
/// the language map gives for Judge0 (`Plain Text`).
pub fn judge0_name(runtime: &Installed) -> String {
    let language = &runtime.language;
    match language.judge0.as_ref().and_then(|j| j.name.clone()) {
        Some(name) => name,
        None => format!("{} ({})", language.name, runtime.version),
    }
}

/// One entry of Judge0's language lists.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub name: String,
    pub id: u32,
    /// In `/languages/all` only; nothing here is archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_archived: Option<bool>,
}

/// Every id of every installed language in `flavor`, sorted by name (as
/// Judge0's default scope orders them), then id.
fn listed(runtimes: &[Installed], flavor: Flavor, all: bool) -> Vec<Listed> {
    let mut listed: Vec<Listed> = runtimes
        .iter()
        .flat_map(|runtime| {
            let ids = flavor.ids(&runtime.language).map(|j| j.ids.clone());
            ids.unwrap_or_default().into_iter().map(|id| Listed {
                name: judge0_name(runtime),
                id,
                is_archived: all.then_some(false),
            })
        })
        .collect();
    listed.sort();
    listed
}

/// `GET /languages`: `[{"id", "name"}]`, every id of every installed
/// language.
#[utoipa::path(get, path = "/languages", tag = "judge0",
    responses((status = 200, description = "The languages, under every id that means one", body = Vec<Listed>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn languages(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Listed>>, Judge0Error> {
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(listed(&installed(&state).await?, flavor, false)))
}

/// `GET /languages/all`: the same with `is_archived` (Judge0 adds its
/// archived versions here; this server has none).
#[utoipa::path(get, path = "/languages/all", tag = "judge0",
    responses((status = 200, description = "Active and archived languages", body = Vec<Listed>)), security(("master_key" = []), ("auth_token" = [])))]
pub async fn all(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Vec<Listed>>, Judge0Error> {
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    Ok(Json(listed(&installed(&state).await?, flavor, true)))
}

/// `GET /languages/{id}`: one language, by any of its ids.
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
    let flavor = Flavor::of(&request);
    keyed(&state, &request.into_parts().0).await?;
    let id: u32 = id.parse().map_err(|_| not_found())?;
    let runtimes = installed(&state).await?;
    let runtime = runtimes
        .iter()
        .find(|r| flavor.means(&r.language, id))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::languages::LanguageMap;

    fn runtimes() -> Vec<Installed> {
        let map = LanguageMap::load(None).unwrap();
        map.iter()
            .map(|language| Installed {
                language: Arc::clone(language),
                version: semver::Version::new(1, 2, 3),
            })
            .collect()
    }

    fn ids_of(listed: &[Listed], name: &str) -> Vec<u32> {
        let name = format!("{name} (1.2.3)");
        listed
            .iter()
            .filter(|l| l.name == name)
            .map(|l| l.id)
            .collect()
    }

    #[test]
    fn every_id_of_a_language_is_listed_in_its_flavour() {
        let ce = listed(&runtimes(), Flavor::Ce, false);
        assert_eq!(ids_of(&ce, "C++"), [52, 53, 54]);
        assert_eq!(ids_of(&ce, "C"), [48, 49, 50]);
        assert_eq!(ids_of(&ce, "C++ (Clang)"), [76]);
        assert_eq!(ids_of(&ce, "C (Clang)"), [75]);
        let extra = listed(&runtimes(), Flavor::ExtraCe, false);
        assert_eq!(ids_of(&extra, "C++"), [2, 14]);
        assert_eq!(ids_of(&extra, "Python (NumPy, pandas, SciPy)"), [10]);
        assert!(
            ids_of(&extra, "Python").is_empty(),
            "Extra CE has no plain Python"
        );
        let names: Vec<&str> = ce.iter().map(|l| l.name.as_str()).collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "sorted by name");
        assert!(ce.iter().all(|l| l.is_archived.is_none()));
        let all = listed(&runtimes(), Flavor::Ce, true);
        assert_eq!(all.len(), ce.len());
        assert!(all.iter().all(|l| l.is_archived == Some(false)));
        let plain = ce.iter().find(|l| l.id == 43).unwrap();
        assert_eq!(plain.name, "Plain Text", "as Judge0 lists it, no version");
    }
}
