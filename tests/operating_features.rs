//! The operator's features against the real binary: rate limiting, the result
//! cache, TLS, readiness, key generation, the self-test, graceful shutdown,
//! logs and the systemd unit.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::inprocess::{App, Fake};
use common::{b64, bin, Service, KEY};
use serde_json::{json, Value};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `POST /run` without a key: a cheap 401 that still spends a rate-limit
/// token. Status, `Retry-After` and the body.
async fn post_without_key(url: &str) -> (u16, Option<String>, Value) {
    let r = Service::client()
        .post(format!("{url}/run"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = r.status().as_u16();
    (status, retry, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn standalone_allows_a_burst_then_429_with_retry_after_until_a_token_returns() {
    let flags = ["--standalone", "--burst", "2", "--refill", "1"];
    let svc = App::from_flags(&flags, Fake::Echo).await;
    let post = || post_without_key(&svc.url);
    assert_eq!(post().await.0, 401);
    assert_eq!(post().await.0, 401);
    let (status, retry, body) = post().await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body["detail"].as_str().unwrap().contains("rate limit"));
    // Probes are not rate limited.
    let ready = reqwest::get(format!("{}/ready", svc.url)).await.unwrap();
    assert_ne!(ready.status().as_u16(), 429);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post().await.0, 401, "a token came back after --refill");
    assert_eq!(post().await.0, 429, "only one");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_standalone_there_is_no_rate_limit() {
    let svc = App::from_flags(&[], Fake::Echo).await;
    for _ in 0..10 {
        assert_eq!(post_without_key(&svc.url).await.0, 401);
    }
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn cache_hits_are_marked_in_a_header_and_every_input_is_part_of_the_key() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--cache"]);
    let code = b64("import os, sys, uuid\nprint(uuid.uuid4().hex, repr(sys.stdin.read()), os.environ.get('V'))");
    let body = json!({"language_id": 1, "code": code, "stdin": "secret-stdin-a", "env": {"V": "secret-env-1"}});

    let (status, first_mark, first) = svc.run_raw(&body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first_mark.as_deref(), Some("miss"));
    let (_, mark, again) = svc.run_raw(&body).await;
    assert_eq!(mark.as_deref(), Some("hit"));
    assert_eq!(again, first, "a hit returns the stored response unchanged");
    let stored: Value = serde_json::from_str(&first).unwrap();
    assert!(
        stored.get("cache").is_none(),
        "the body carries no cache marker"
    );

    let mut other_stdin = body.clone();
    other_stdin["stdin"] = json!("secret-stdin-b");
    let (_, mark, text) = svc.run_raw(&other_stdin).await;
    assert_eq!(mark.as_deref(), Some("miss"), "stdin is part of the key");
    assert_ne!(text, first);

    let mut other_env = body.clone();
    other_env["env"] = json!({"V": "secret-env-2"});
    let (_, mark, _) = svc.run_raw(&other_env).await;
    assert_eq!(mark.as_deref(), Some("miss"), "env is part of the key");

    let slow = json!({"language_id": 1, "code": b64("import time; time.sleep(5)"), "timeout": 1});
    for _ in 0..2 {
        let (status, mark, text) = svc.run_raw(&slow).await;
        assert_eq!(status, 200);
        assert!(text.contains("\"timeout\":true"), "{text}");
        assert_eq!(mark.as_deref(), Some("miss"), "timeouts are never cached");
    }

    // Logs name requests, never the key, stdin or env values.
    let logs = svc.log_text();
    assert!(logs.contains("request_id="), "{logs}");
    for secret in [KEY, "secret-stdin-a", "secret-env-1", code.as_str()] {
        assert!(!logs.contains(secret), "log shows {secret}");
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn without_cache_there_is_no_cache_header_and_runs_repeat() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let body = json!({"language_id": 1, "code": b64("import uuid; print(uuid.uuid4())")});
    let (_, mark, first) = svc.run_raw(&body).await;
    let (_, _, second) = svc.run_raw(&body).await;
    assert_eq!(mark, None);
    assert_ne!(first, second);
    svc.stop_and_check_clean();
}

fn write_certificate(dir: &Path) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl")
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_with_the_configured_certificate_and_the_self_test_uses_it() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("certs");
    std::fs::create_dir(&tls).unwrap();
    write_certificate(&tls);
    let key = dir.path().join("masterkey");
    gen_key_file(&key);
    let tls_arg = tls.to_str().unwrap();
    let svc = Service::start_with_key(&key, &["--tls", "--tls-dir", tls_arg, "--ping"], dir);
    assert!(
        svc.wait_for_log("listening on https://", Duration::from_secs(5)),
        "{}",
        svc.log_text()
    );

    let cacert = svc.dir().join("certs/cert.pem");
    let url = format!("https://localhost:{}/ping", svc.port());
    let out = curl(&["--cacert", cacert.to_str().unwrap(), &url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pong", "{out:?}");
    let plain = curl(&[&format!("http://127.0.0.1:{}/ping", svc.port())]);
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "pong");
    let untrusted = curl(&[&url]);
    assert!(!untrusted.status.success(), "an unknown CA is refused");

    let port = svc.port().to_string();
    let out = self_test(&["python"], &["-p", &port, "--tls", "--tls-dir", tls_arg]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("Python"), "{table}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[test]
fn missing_or_bad_tls_files_stop_startup_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("masterkey");
    gen_key_file(&key);
    let start = |tls_dir: &Path| {
        Command::new(bin())
            .args(["-a", "127.0.0.1", "-p", "0", "--tls", "--tls-dir"])
            .arg(tls_dir)
            .arg("-k")
            .arg(&key)
            .arg("--runner")
            .arg(common::runner())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = start(&empty);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cert.pem"), "{err}");

    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    write_certificate(&bad);
    std::fs::write(
        bad.join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let out = start(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("key.pem"), "{err}");
}

fn gen_key_file(path: &Path) {
    let status = Command::new(bin())
        .args(["--gen-key", "-k"])
        .arg(path)
        .env("WHIPCODE_MASTER_KEY", KEY)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// `whipcode --self-test LANGS FLAGS` with the test key in the environment.
fn self_test(languages: &[&str], flags: &[&str]) -> Output {
    Command::new(bin())
        .arg("--self-test")
        .arg(languages.join(","))
        .args(["-a", "127.0.0.1"])
        .args(flags)
        .current_dir(std::env::temp_dir())
        .env("WHIPCODE_MASTER_KEY", KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Map entries of a language whose image is never built.
const NEVER_BUILT: &str = "\n[[image]]\nname = \"never-built\"\nfrom = \"base\"\n\
    \n[[language]]\nid = 999\nname = \"Never Built\"\nimage = \"never-built\"\n\
    source = \"x\"\nrun = [\"true\"]\nselftest = { hello = \"x\" }\n";

/// The built-in language map with Bash's run step replaced by one that
/// prints the wrong thing, plus a language whose image was never built.
fn broken_map(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("langmap.toml")).unwrap();
    let good = r#"run = ["bash", "{args}", "{source}"]"#;
    assert!(text.contains(good));
    let broken = text.replace(good, r#"run = ["bash", "-c", "echo Failure"]"#);
    let path = dir.join("broken-langmap.toml");
    std::fs::write(&path, broken + NEVER_BUILT).unwrap();
    path
}

/// The built-in map cut down to the languages `./task test` builds images
/// for, plus one whose image is never built: what `/ready` reports then does
/// not depend on which other images this host happens to hold.
fn core_map_with_an_unbuilt_language(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("langmap.toml")).unwrap();
    let mut map: toml::Table = text.parse().unwrap();
    let core = ["python", "javascript", "bash", "c"];
    let languages = map["language"].as_array_mut().unwrap();
    languages.retain(|l| core.contains(&l["image"].as_str().unwrap_or_default()));
    assert_eq!(languages.len(), core.len(), "one language per core image");
    let path = dir.join("core-langmap.toml");
    std::fs::write(&path, toml::to_string(&map).unwrap() + NEVER_BUILT).unwrap();
    path
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn self_test_passes_for_the_core_languages_and_fails_when_one_is_broken() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let port = svc.port().to_string();
    let out = self_test(&["python", "javascript", "bash", "c"], &["-p", &port]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    for name in ["Python", "JavaScript", "Bash", "C"] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {table}"));
        // hello, echo, args and canonical.
        assert_eq!(row.matches(" ok").count(), 4, "{row}");
    }
    svc.stop_and_check_clean();

    let dir = tempfile::tempdir().unwrap();
    let map = broken_map(dir.path());
    let map_arg = map.to_str().unwrap();
    let svc = Service::start(&["-m", map_arg]);
    let port = svc.port().to_string();
    let out = self_test(&["python", "bash"], &["-p", &port, "-m", map_arg]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a broken language fails: {table}");
    let bash = table.lines().find(|l| l.contains("Bash")).unwrap();
    assert!(bash.contains("FAIL"), "{table}");
    let python = table.lines().find(|l| l.contains("Python")).unwrap();
    assert!(!python.contains("FAIL"), "{table}");
    assert!(table.contains("Failure"), "the reason is shown: {table}");
    svc.stop_and_check_clean();
}

#[test]
fn self_test_without_a_key_says_how_to_give_one() {
    let out = Command::new(bin())
        .args(["--self-test", "python", "-p", "1"])
        .env_remove("WHIPCODE_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WHIPCODE_MASTER_KEY"));
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn readiness_reports_podman_and_missing_images_without_a_key_and_recovers() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("podman");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n[ -e \"$(dirname \"$0\")/podman-down\" ] && { echo down >&2; exit 125; }\nexec podman \"$@\"\n",
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&wrapper, executable).unwrap();
    let map = core_map_with_an_unbuilt_language(dir.path());
    let svc = Service::start(&[
        "--podman-path",
        wrapper.to_str().unwrap(),
        "-m",
        map.to_str().unwrap(),
    ]);
    let ready = || async {
        let r = reqwest::get(format!("{}/ready", svc.url)).await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["podman"], true);
    assert_eq!(
        body["installed"],
        json!(["Python", "JavaScript", "Bash", "C"])
    );
    assert_eq!(body["missing"], json!(["Never Built"]));

    // podman goes down: its service is killed and cannot be started again.
    std::fs::write(dir.path().join("podman-down"), "").unwrap();
    let service = common::podman_service_of(svc.pid()).expect("podman's service runs");
    Command::new("kill")
        .args(["-9", &service.to_string()])
        .status()
        .unwrap();
    let wait_for = |want: u16| {
        let ready = &ready;
        async move {
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                let (status, body) = ready().await;
                if status == want || Instant::now() > deadline {
                    return (status, body);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let (status, body) = wait_for(503).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["podman"], false);
    // What is wrong, in the service's words; podman's own error text stays in the log.
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("podman is not answering") || detail.starts_with("podman did not list"),
        "{body}"
    );

    // podman is back: the service is started again and /ready says so.
    std::fs::remove_file(dir.path().join("podman-down")).unwrap();
    let (status, body) = wait_for(200).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["missing"], json!(["Never Built"]));
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn gen_key_prints_a_new_key_once_refuses_to_overwrite_and_the_server_accepts_it() {
    let _podman = common::podman_test();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".masterkey");
    let gen = |extra: &[&str], key: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(["--gen-key", "-k"])
            .arg(&path)
            .args(extra)
            .stdin(Stdio::null())
            .env_remove("WHIPCODE_MASTER_KEY");
        if let Some(key) = key {
            cmd.env("WHIPCODE_MASTER_KEY", key);
        }
        cmd.output().unwrap()
    };
    let out = gen(&[], None);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains(&key), "the file holds the hash, not the key");
    assert_eq!(file.lines().nth(1).unwrap().len(), 32, "a 32-hex-char salt");

    let refused = gen(&[], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        file,
        "file untouched"
    );

    let salt = "0123456789abcdef0123456789abcdef";
    let forced = gen(&["--force", "--salt", salt], Some("fixture-master-key"));
    assert!(forced.status.success());
    assert!(forced.stdout.is_empty(), "a given key is not echoed");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(repo().join("tests/fixtures/argon2-cffi.masterkey")).unwrap()
    );

    // The first key no longer works; the one given does.
    let svc = Service::start_with_key(&path, &[], tempfile::tempdir().unwrap());
    let client = Service::client();
    for (key, expected) in [(key.as_str(), 401), ("fixture-master-key", 400)] {
        let r = client
            .post(format!("{}/run", svc.url))
            .header("x-master-key", key)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected);
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_inflight_run_finish_refuses_new_connections_and_leaves_no_container() {
    let _podman = common::podman_test();
    let mut svc = Service::start(&[]);
    let url = svc.url.clone();
    let inflight = tokio::spawn(async move {
        Service::client()
            .post(format!("{url}/run"))
            .header("X-Master-Key", KEY)
            .json(&json!({"language_id": 1, "code": b64("import time; time.sleep(3); print('finished')")}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    // Wait until the program is running, then ask the server to stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::instance_containers(&svc.instance).is_empty() {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    svc.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new()
        .get(format!("{}/ready", svc.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "no new connections after SIGTERM");

    let body = inflight.await.unwrap();
    assert_eq!(body["stdout"], "finished\n", "{body}");
    let status = svc.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    assert!(common::instance_containers(&svc.instance).is_empty());
    common::wait_for_host_count(svc.host_before);
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("deploy/whipcode.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/whipcode "));
    assert!(unit.contains("User=root") && unit.contains("NoNewPrivileges=yes"));
    assert!(unit.contains("KillSignal=SIGTERM"));
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let local = unit
        .replace("/usr/local/bin/whipcode ", &format!("{} ", bin()))
        .replace(
            "WorkingDirectory=/etc/whipcode",
            &format!("WorkingDirectory={}", dir.path().display()),
        );
    let path = dir.path().join("whipcode.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (apt package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
