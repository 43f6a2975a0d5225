//! `/openapi.json` against the router that serves it (in-process, a fake
//! sandbox): every described operation is served at its path and method,
//! every path the code routes is described, the document is OpenAPI 3.1
//! (checked by openapi-spec-validator), and what is optional (`/ping`,
//! Judge0's base path) is described only where it is served.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use common::inprocess::{state, Fake};
use common::KEY;
use serde_json::Value;
use tower::ServiceExt as _;

/// The routes as `router_with` builds them, each answer saying which route
/// pattern matched it (none: the fallback).
async fn router_telling_matches(
    state: whipcode::api::AppState,
    ping: bool,
) -> (axum::Router, Value) {
    let (router, _) = whipcode::api::described_routes(&state, ping, None).split_for_parts();
    async fn tell(request: Request, next: Next) -> Response {
        let matched = request
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned());
        let mut response = next.run(request).await;
        if let Some(m) = matched {
            response
                .headers_mut()
                .insert("x-matched", m.parse().unwrap());
        }
        response
    }
    let router = router
        .layer(axum::middleware::from_fn(tell))
        .with_state(state.clone());
    (router, document(state, ping).await)
}

/// The document as the service serves it.
async fn document(state: whipcode::api::AppState, ping: bool) -> Value {
    let response = whipcode::api::router(state, ping)
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                out.push((m, path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_described_operation_is_served_at_its_path_and_method() {
    let (router, doc) = router_telling_matches(state(Fake::Echo), true).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{ops:?}");
    for (method, path) in ops {
        let concrete = path
            .replace("{token}", "00000000-0000-0000-0000-000000000000")
            .replace("{id}", "71");
        let request = Request::builder()
            .method(method.clone())
            .uri(&concrete)
            .header("x-master-key", KEY)
            .header("content-type", "application/json")
            .body(Body::from(if method == Method::POST { "{}" } else { "" }))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let matched = response
            .headers()
            .get("x-matched")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            matched.as_deref(),
            Some(path.as_str()),
            "{method} {path} is described but not served (status {})",
            response.status()
        );
        assert_ne!(response.status(), 405, "{method} {path}");
    }
}

#[tokio::test]
async fn every_path_the_code_routes_is_described() {
    // Routes come from their handlers' descriptions (`routes!`); a route
    // added around them with a plain `.route("…")` would be served and not
    // described. Every such path literal in the HTTP layer must be in the
    // document (the keyless metrics listener's `/metrics` is).
    let doc = document(state(Fake::Echo), true).await;
    let described: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut found = 0;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices(".route(") {
                let rest = text[i + ".route(".len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                    panic!("{}: a route whose path is not a literal", path.display());
                };
                found += 1;
                assert!(
                    described.contains(literal),
                    "{}: routes {literal}, which /openapi.json does not describe",
                    path.display()
                );
            }
        }
    }
    assert!(found >= 1, "the scan found no plain route at all");
}

#[tokio::test]
async fn the_description_follows_what_is_served_ping_and_the_judge0_path() {
    let without = document(state(Fake::Echo), false).await;
    assert!(without["paths"].get("/ping").is_none());
    assert!(without["paths"].get("/judge0/submissions").is_some());
    let with = document(state(Fake::Echo), true).await;
    assert!(with["paths"].get("/ping").is_some());

    let mut moved = state(Fake::Echo);
    moved.judge0_path = Some("/j0".into());
    let (router, doc) = router_telling_matches(moved, false).await;
    assert!(doc["paths"].get("/judge0/submissions").is_none());
    assert!(doc["paths"].get("/j0/submissions").is_some());
    let response = router
        .oneshot(
            Request::get("/j0/statuses")
                .header("x-master-key", KEY)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let mut off = state(Fake::Echo);
    off.judge0_path = None;
    let doc = document(off, false).await;
    assert!(doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .all(|p| !p.contains("submissions")));
}

#[ignore = "needs the Python test tools (./task test installs them)"]
#[tokio::test]
async fn the_description_is_valid_openapi_3_1_with_unique_operation_ids() {
    let doc = document(state(Fake::Echo), true).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    // Every keyed operation says how a refusal looks in its API's shape.
    let run = &doc["paths"]["/run"]["post"]["responses"];
    for status in ["200", "400", "401", "413", "415", "429", "503"] {
        assert!(run.get(status).is_some(), "/run lacks {status}");
    }
    assert_eq!(
        doc["paths"]["/api/v2/execute"]["post"]["responses"]["401"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/PistonMessage"
    );
    assert_eq!(
        doc["paths"]["/judge0/submissions"]["post"]["responses"]["422"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/Judge0FieldErrors"
    );
    let python = common::tools::python();
    let checked = common::tools::run(
        &python,
        "validate_openapi.py",
        &[],
        doc.to_string().as_bytes(),
    )
    .await;
    assert!(checked.contains("valid OpenAPI 3.1.0"), "{checked}");
}
