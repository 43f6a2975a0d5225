//! Piston's API (in process, with a sandbox that only lists images): the
//! runtimes list under Piston's names, semver versions and aliases, both
//! with and without a trailing slash, Piston's error shapes under
//! `/api/v2`, and whipcode's own everywhere else.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::inprocess::{fresh_key, languages, App};
use common::KEY;
use serde_json::{json, Value};
use whipcode::api::AppState;
use whipcode::sandbox::{BoxFuture, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError};

/// Python and C installed, with the labels their images really carry.
struct TwoImages;

impl Sandbox for TwoImages {
    fn run(&self, _spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async { Ok(RunOutcome::default()) })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async {
            Ok(vec![
                InstalledImage {
                    reference: "localhost/whipcode-python:latest".into(),
                    version: Some("Python 3.11.2".into()),
                },
                InstalledImage {
                    reference: "localhost/whipcode-c:latest".into(),
                    version: Some("gcc (Debian 12.2.0-14+deb12u1) 12.2.0".into()),
                },
            ])
        })
    }
}

async fn app() -> App {
    let state = AppState::new(fresh_key(), languages(), Arc::new(TwoImages));
    App::start(state, false, Duration::from_secs(30)).await
}

async fn get(app: &App, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.url));
    if let Some(key) = key {
        request = request.header("X-Master-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn runtimes_lists_installed_languages_by_piston_name_with_semver_versions() {
    let app = app().await;
    let (status, body) = get(&app, "/api/v2/runtimes", Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"language": "c", "version": "12.2.0", "aliases": ["gcc"]},
            {"language": "python", "version": "3.11.2", "aliases": ["py", "py3", "python3"]},
        ]),
        "only installed languages, versions made semver"
    );
    let (status, slashed) = get(&app, "/api/v2/runtimes/", Some(KEY)).await;
    assert_eq!(
        (status, &slashed),
        (200, &body),
        "a trailing slash is the same route"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn piston_routes_refuse_in_pistons_shape_and_other_paths_keep_whipcodes() {
    let app = app().await;
    let (status, body) = get(&app, "/api/v2/runtimes", None).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "invalid or missing master key"}));
    let (status, body) = get(&app, "/api/v2/nope", Some(KEY)).await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));
    let (status, body) = get(&app, "/nope", Some(KEY)).await;
    assert_eq!((status, body), (404, json!({"detail": "not found"})));
    let response = reqwest::Client::new()
        .delete(format!("{}/api/v2/runtimes", app.url))
        .header("X-Master-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
}
