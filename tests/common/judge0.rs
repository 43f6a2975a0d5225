//! Judge0's API from the tests: requests with Judge0's header, and Judge0's
//! official Python SDK (PyPI `judge0`, in the venv `./task test` makes at
//! `target/judge0-sdk`) running a script of `tests/judge0-sdk/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Service, KEY};

/// `method` on `/judge0<path>` with `body` (none when `Null`), the key as
/// `X-Auth-Token` when given; the status and the JSON answer (`null` if it
/// is not JSON).
pub async fn request(
    svc: &Service,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = Service::client().request(method, format!("{}/judge0{path}", svc.url));
    if let Some(key) = key {
        request = request.header("X-Auth-Token", key);
    }
    if !body.is_null() {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs `body` to `/judge0<path>` with the test key as `X-Auth-Token`.
pub async fn post(svc: &Service, path: &str, body: Value) -> (u16, Value) {
    request(svc, reqwest::Method::POST, path, Some(KEY), &body).await
}

/// GETs `/judge0<path>` the same way.
pub async fn get(svc: &Service, path: &str) -> (u16, Value) {
    request(svc, reqwest::Method::GET, path, Some(KEY), &Value::Null).await
}

/// A zip archive of `entries` (name, content), as `additional_files` takes
/// it before base64.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A submission's status id (from `status`, or `status_id` when that is
/// what was asked for).
pub fn status_of(answer: &Value) -> u64 {
    answer["status"]["id"]
        .as_u64()
        .or_else(|| answer["status_id"].as_u64())
        .unwrap_or_default()
}

/// A text field of a `base64_encoded=true` answer, decoded (Judge0 breaks
/// its lines as Ruby's `encode64` does).
pub fn unb64(text: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text: String = text
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Polls `token` on `svc` until its status is final (3 or more), for at
/// most `within`; its answer with every field, and each status seen.
pub async fn until_final(svc: &Service, token: &str, within: Duration) -> (Value, Vec<u64>) {
    until_final_as(svc, token, "fields=*", within).await
}

/// The same, read with `query` (which must show the status).
pub async fn until_final_as(
    svc: &Service,
    token: &str,
    query: &str,
    within: Duration,
) -> (Value, Vec<u64>) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let (status, answer) = get(svc, &format!("/submissions/{token}?{query}")).await;
        assert_eq!(status, 200, "{token} on {}: {answer}", svc.instance);
        let id = status_of(&answer);
        if seen.last() != Some(&id) {
            seen.push(id);
        }
        if id >= 3 {
            return (answer, seen);
        }
        assert!(
            Instant::now() < deadline,
            "{token} never finished on {}: {seen:?}",
            svc.instance
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The venv's Python, when the SDK is installed.
fn python() -> Option<PathBuf> {
    let path = std::env::var_os("WHIPCODE_JUDGE0_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/judge0-sdk/bin/python3")
        });
    path.is_file().then_some(path)
}

/// Runs `tests/judge0-sdk/<script>` against the Judge0 API at `base` with
/// the test key and expects it to succeed; what it printed (a failure when
/// the SDK is not installed).
pub async fn sdk(script: &str, base: &str) -> String {
    sdk_with(script, &[base], &[]).await
}

/// The same with `args` and `env` of the caller's choosing.
pub async fn sdk_with(script: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let Some(python) = python() else {
        super::missing("Judge0's Python SDK is not installed in target/judge0-sdk")
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/judge0-sdk")
        .join(script);
    let output = tokio::process::Command::new(python)
        .arg(path)
        .args(args)
        .env("WHIPCODE_MASTER_KEY", super::KEY)
        .env("JUDGE0_SUPPRESS_PREVIEW_WARNING", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}
