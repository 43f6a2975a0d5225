//! How sandbox failures reach clients, with a fake sandbox (these paths cannot
//! be provoked reliably on real podman): busy → 503 with Retry-After, missing
//! image → 503 naming the language, anything else → an opaque 500.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::inprocess::{state, Fake};
use common::KEY;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use whipcode::api::router;
use whipcode::sandbox::{EngineError, SandboxError};

async fn call(error: fn() -> SandboxError) -> (StatusCode, Option<String>, Value) {
    let mut state = state(Fake::Failing(error));
    state.max_bytes = 10_000;
    let request = Request::post("/run")
        .header("content-type", "application/json")
        .header("x-master-key", KEY)
        .body(Body::from(
            json!({"language_id": 1, "code": "eA=="}).to_string(),
        ))
        .unwrap();
    let response = router(state, false).oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_full_sandbox_is_503_with_retry_after() {
    let (status, retry, body) = call(|| SandboxError::Busy { limit: 4 }).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body["detail"].as_str().unwrap().contains("busy"));
}

#[tokio::test]
async fn a_missing_image_is_503_naming_the_language() {
    let (status, _, body) = call(|| SandboxError::ImageMissing {
        image: "localhost/whipcode-python:latest".into(),
    })
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["detail"].as_str().unwrap().contains("Python"));
}

#[tokio::test]
async fn engine_failures_are_an_opaque_500() {
    let (status, _, body) =
        call(|| SandboxError::Engine(EngineError::failed("secret /var/lib/containers detail")))
            .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["detail"], "internal error");
}
