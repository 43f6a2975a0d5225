//! Browsers on Judge0's routes (in process, with a sandbox that counts its
//! runs): `--cors-origins` answers a listed page's preflights and requests
//! as Judge0's Rack::Cors does, and nothing else; whipcode's own and
//! Piston's routes never answer CORS; a page of any other origin is refused
//! before anything runs, whatever its content type.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::inprocess::{state, App, Fake};
use common::KEY;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use whipcode::origins::parse_cors_origins;

const IDE: &str = "https://ide.example";
const ELSEWHERE: &str = "https://elsewhere.example";

/// The service with `--cors-origins` at `origins`, and its count of runs.
async fn serve(origins: &str) -> (App, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut state = state(Fake::Counting(Arc::clone(&runs)));
    state.cors_origins = Arc::new(parse_cors_origins(origins).unwrap());
    (
        App::start(state, false, Duration::from_secs(30)).await,
        runs,
    )
}

/// A browser's preflight of a POST to `path`, from `origin`.
async fn preflight(app: &App, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}{path}", app.url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-auth-token",
        )
        .send()
        .await
        .unwrap()
}

/// The `Access-Control-*` headers of an answer.
fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// A Judge0 submission with `wait=true`, as `content_type`, from `origin`
/// (none: not a browser), with the key as a gateway adds it.
async fn submit(app: &App, origin: Option<&str>, content_type: &str) -> (u16, HeaderMap, Value) {
    let body = json!({"language_id": 71, "source_code": "print(1)", "stdin": "hi"});
    let mut request = reqwest::Client::new()
        .post(format!("{}/judge0/submissions?wait=true", app.url))
        .header("x-auth-token", KEY)
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_origins_preflight_gets_rack_cors_answers() {
    let (app, _) = serve(IDE).await;
    let answer = preflight(
        &app,
        "/judge0/submissions?base64_encoded=true&wait=false",
        IDE,
    )
    .await;
    assert_eq!(answer.status(), 200);
    let h = answer.headers().clone();
    assert_eq!(
        h["access-control-allow-origin"], IDE,
        "the origin, as listed"
    );
    let methods: Vec<&str> = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        methods,
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    );
    assert_eq!(
        h["access-control-allow-headers"], "content-type,x-auth-token",
        "the headers asked for, echoed"
    );
    assert_eq!(h["access-control-max-age"], "7200");
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert!(varies_on_origin(&h), "{h:?}");
    assert!(answer.bytes().await.unwrap().is_empty());
    // The Extra CE path is Judge0's API too.
    let extra = preflight(&app, "/judge0-extra/submissions", IDE).await;
    assert_eq!(extra.headers()["access-control-allow-origin"], IDE);

    // The request itself: the route's answer, the origin allowed.
    let (status, h, _) = submit(&app, Some(IDE), "application/json").await;
    assert_eq!(status, 201);
    assert_eq!(h["access-control-allow-origin"], IDE);
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert!(varies_on_origin(&h));

    // `*`, Judge0's default: any page, answered with `*`.
    let (any, _) = serve("*").await;
    let answer = preflight(&any, "/judge0/languages", ELSEWHERE).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    assert!(!answer
        .headers()
        .contains_key("access-control-allow-credentials"));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_origins_preflight_gets_no_cors_headers() {
    let (app, _) = serve(IDE).await;
    let answer = preflight(&app, "/judge0/submissions", ELSEWHERE).await;
    assert_eq!(
        answer.status(),
        200,
        "as Rack::Cors answers an unlisted origin"
    );
    assert_eq!(cors_headers(answer.headers()), Vec::<String>::new());

    // Without --cors-origins, no CORS at all: routed as before (405).
    let (off, _) = serve("").await;
    let answer = preflight(&off, "/judge0/submissions", IDE).await;
    assert_eq!(answer.status(), 405);
    assert_eq!(cors_headers(answer.headers()), Vec::<String>::new());
    assert!(!varies_on_origin(answer.headers()));
}

#[tokio::test(flavor = "multi_thread")]
async fn whipcode_and_piston_routes_never_answer_cors() {
    let (on, _) = serve("*").await;
    let (off, _) = serve("").await;
    for path in [
        "/run",
        "/tickets",
        "/languages",
        "/api/v2/execute",
        "/api/v2/runtimes",
    ] {
        let with = preflight(&on, path, IDE).await;
        let without = preflight(&off, path, IDE).await;
        assert_eq!(with.status(), without.status(), "{path}: as without CORS");
        assert_eq!(cors_headers(with.headers()), Vec::<String>::new(), "{path}");
    }
    let answer = reqwest::Client::new()
        .post(format!("{}/run", on.url))
        .header("origin", IDE)
        .header("x-master-key", KEY)
        .json(&json!({"language_id": 1, "code": common::b64("print(1)")}))
        .send()
        .await
        .unwrap();
    assert_eq!(cors_headers(answer.headers()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_origin_request_to_judge0_is_refused_and_runs_nothing() {
    for origins in [IDE, ""] {
        let (app, runs) = serve(origins).await;
        // What a page elsewhere can send without a preflight, and JSON.
        for content_type in [
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json",
        ] {
            let (status, _, answer) = submit(&app, Some(ELSEWHERE), content_type).await;
            assert_eq!(status, 403, "{origins:?} {content_type}: {answer}");
            let error = answer["error"].as_str().unwrap();
            assert!(
                error.contains(ELSEWHERE) && error.contains("--cors-origins"),
                "{error}"
            );
            assert_eq!(answer.as_object().unwrap().len(), 1, "Judge0's shape");
        }
        for path in ["/judge0/authenticate", "/judge0/submissions/batch"] {
            let answer = reqwest::Client::new()
                .post(format!("{}{path}", app.url))
                .header("origin", "null")
                .header("x-auth-token", KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 403, "{path}");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 0, "{origins:?}: nothing ran");

        // A page of the API's own origin too, unless listed: the host name
        // a request names is the page's to choose (DNS rebinding).
        let own = app.url.clone();
        assert_eq!(submit(&app, Some(&own), "application/json").await.0, 403);
        // Not refused: a client that is no browser.
        assert_eq!(submit(&app, None, "application/json").await.0, 201);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
