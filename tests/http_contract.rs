//! The reference's HTTP contract: statuses and their order (in process, with
//! a fake sandbox), and against the real binary the key file, the README's
//! curl example and startup cleanup.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::process::Command;

use common::inprocess::App;
use common::{b64, Service, KEY};
use serde_json::{json, Value};

async fn raw(
    url: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = Service::client().request(method, format!("{url}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What, method, path, headers, body, expected status.
type Case = (
    &'static str,
    reqwest::Method,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
);

const JSON: (&str, &str) = ("Content-Type", "application/json");
const GOOD_KEY: (&str, &str) = ("X-Master-Key", KEY);

fn hello() -> Vec<u8> {
    json!({"language_id": 1, "code": b64("print(1)")})
        .to_string()
        .into_bytes()
}

/// The service in process with a 2048-byte body limit (`-b 2048`).
async fn small_bodies() -> App {
    App::from_flags(&["-b", "2048"], common::inprocess::Fake::Echo).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_status_has_a_detail_and_the_documented_precedence() {
    let app = small_bodies().await;
    use reqwest::Method;
    let big = vec![b' '; 4096];
    let cases: Vec<Case> = vec![
        (
            "unknown path",
            Method::POST,
            "/nope",
            vec![JSON, GOOD_KEY],
            hello(),
            404,
        ),
        (
            "ping is off by default",
            Method::GET,
            "/ping",
            vec![],
            vec![],
            404,
        ),
        (
            "wrong method",
            Method::GET,
            "/run",
            vec![JSON, GOOD_KEY],
            vec![],
            405,
        ),
        (
            "too large, no key",
            Method::POST,
            "/run",
            vec![JSON],
            big.clone(),
            413,
        ),
        (
            "too large, good key",
            Method::POST,
            "/run",
            vec![JSON, GOOD_KEY],
            big,
            413,
        ),
        ("no key", Method::POST, "/run", vec![JSON], hello(), 401),
        (
            "wrong key, wrong type",
            Method::POST,
            "/run",
            vec![("X-Master-Key", "nope")],
            hello(),
            401,
        ),
        (
            "no content type",
            Method::POST,
            "/run",
            vec![GOOD_KEY],
            hello(),
            415,
        ),
        (
            "text/plain, bad json",
            Method::POST,
            "/run",
            vec![GOOD_KEY, ("Content-Type", "text/plain")],
            b"{".to_vec(),
            415,
        ),
        (
            "bad json",
            Method::POST,
            "/run",
            vec![JSON, GOOD_KEY],
            b"{\"code\":".to_vec(),
            400,
        ),
        (
            "not an object",
            Method::POST,
            "/run",
            vec![JSON, GOOD_KEY],
            b"[1,2]".to_vec(),
            400,
        ),
        (
            "unknown language",
            Method::POST,
            "/run",
            vec![JSON, GOOD_KEY],
            json!({"language_id": 99, "code": b64("x")})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "charset parameter is fine",
            Method::POST,
            "/run",
            vec![
                GOOD_KEY,
                ("Content-Type", "application/json; charset=utf-8"),
            ],
            json!({"language_id": "1", "code": ""})
                .to_string()
                .into_bytes(),
            400,
        ),
    ];
    for (what, method, path, headers, body, want) in cases {
        // One key check per client at a time: a case answered before its
        // check ended (413) leaves it running, and the next case's other key
        // would be told to wait (429). Each case starts with none under way.
        while app.key.checks_in_flight() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (status, body) = raw(&app.url, method, path, &headers, body).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_over_the_limit_is_413() {
    use std::io::{Read, Write};
    let app = small_bodies().await;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", app.port())).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1500, " ".repeat(1500));
    let request = format!(
        "POST /run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         X-Master-Key: {KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {chunk}{chunk}0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    app.stop().await;
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_made_by_argon2_cffi_works_with_the_real_binary() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/argon2-cffi.masterkey");
    let svc = Service::start_with_key(&key, &["--ping"], dir);
    let response = Service::client()
        .post(format!("{}/run", svc.url))
        .header("X-Master-Key", "fixture-master-key")
        .header("X-Request-Id", "client-id-42")
        .json(&json!({"language_id": 1, "code": b64("print('ok')")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["x-request-id"],
        "client-id-42",
        "request id echoed"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stdout"], "ok\n");
    let pong = Service::client()
        .get(format!("{}/ping", svc.url))
        .send()
        .await
        .unwrap();
    assert_eq!(pong.text().await.unwrap(), "pong");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_readme_curl_example_works_as_written() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // The reference README's example, verbatim but for the two variables it assumes.
    let script = r#"
lang=2  # javascript
code='console.log("Hello world!");'
timeout=5

curl -s -X POST $ENDPOINT \
    -H 'Content-Type: application/json' \
    -H "X-Master-Key: $MASTER_KEY" \
    -d '{
        "language_id": "'$lang'",
        "code": "'$(echo -n $code | base64)'",
        "timeout": "'$timeout'"
    }' | jq
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("ENDPOINT", format!("{}/run", svc.url))
        .env("MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["stdout"], "Hello world!\n");
    assert_eq!(body["stderr"], "");
    assert_eq!(body["timeout"], false);
    assert!(body["container_age"].as_f64().unwrap() > 0.0);
    svc.stop_and_check_clean();
}

/// The owner labels naming this test process, which is alive.
fn live_owner_labels() -> Vec<String> {
    let pid = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let started = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_owned();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    vec![
        format!("--label=whipcode.owner.pid={pid}"),
        format!("--label=whipcode.owner.start={started}"),
        format!("--label=whipcode.owner.boot={}", boot.trim()),
    ]
}

/// A project container of `instance`, owned by this (live) test process
/// when `owned`, with no owner label otherwise.
fn podman_create(name: &str, instance: &str, owned: bool) {
    let status = Command::new("podman")
        .args([
            "create",
            "--runtime",
            "runc",
            "--name",
            name,
            "--label",
            "whipcode.project=whipcode",
        ])
        .arg(format!("--label=whipcode.instance={instance}"))
        .args(if owned {
            live_owner_labels()
        } else {
            Vec::new()
        })
        .args(["localhost/whipcode-base:latest", "true"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn startup_removes_this_instances_leftovers_and_only_those() {
    let _podman = common::podman_test();
    let before = common::host_container_count();
    let instance = format!("leftover{:06x}", rand::random::<u32>() & 0xffffff);
    let other = format!("{instance}-other");
    podman_create(&format!("whipcode-{instance}-stale"), &instance, false);
    podman_create(&format!("whipcode-{other}-alive"), &other, true);
    let mut svc = Service::start(&["--instance", &instance]);
    svc.host_before -= 1; // its own leftover is gone, the other instance's stays
    assert_eq!(svc.instance, instance, "the flag given last wins");
    assert!(
        common::instance_containers(&instance).is_empty(),
        "own leftover not removed"
    );
    assert_eq!(
        common::instance_containers(&other).len(),
        1,
        "another instance's container was touched"
    );
    svc.stop_and_check_clean();
    let _ = Command::new("podman")
        .args(["rm", "-f", &format!("whipcode-{other}-alive")])
        .status();
    common::wait_for_host_count(before);
}

#[test]
fn a_bad_config_file_stops_startup_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("whip.toml");
    std::fs::write(&config, "port = 8000\nmaxbytes = 5\n").unwrap();
    let out = Command::new(common::bin())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("whip.toml") && err.contains("maxbytes"),
        "{err}"
    );
}

#[test]
fn dash_v_prints_the_version() {
    let out = Command::new(common::bin()).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
