//! The two test harnesses. This module starts the real `whipcode` binary
//! against real podman (for what needs the sandbox); [`inprocess`] serves the
//! router in the test's own process with a fake sandbox (for the HTTP layer).
//!
//! Podman tests take [`podman_lock`] so that only one runs at a time on this
//! 2-core machine, and so that each can compare the host's whole container
//! count before and after itself.
#![allow(dead_code)]

pub mod browser;
pub mod fleet;
pub mod gateway;
pub mod haproxy;
pub mod inprocess;
pub mod instances;
pub mod judge0;
pub mod redis;
pub mod schema;
pub mod tools;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

pub const KEY: &str = "integration-test-key";

static PODMAN: Mutex<()> = Mutex::new(());

/// The images every podman test may use: what `./task test` builds.
pub const CORE_IMAGES: [&str; 10] = [
    "base",
    "python",
    "javascript",
    "bash",
    "c",
    "java",
    "python-sci",
    "csharp",
    "dotnet",
    "multi",
];

/// Serialises podman tests; survives a test that panicked while holding it.
pub fn podman_lock() -> MutexGuard<'static, ()> {
    PODMAN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The start of every test that needs real podman (each is marked
/// `#[ignore = "needs podman and the core images"]`, run by `./task test`
/// with `--include-ignored`): the podman lock, or a failure naming what is
/// missing (podman, the runner, a core image). Never a skip.
pub fn podman_test() -> MutexGuard<'static, ()> {
    if let Some(reason) = podman_missing() {
        missing(&reason)
    }
    podman_lock()
}

/// A test that cannot run here: a failure naming what it lacks. Such tests
/// are ignored by plain `cargo test`; one that runs anyway lacks nothing.
pub fn missing(reason: &str) -> ! {
    panic!("this test cannot run here: {reason} (`./task test` installs and builds what it needs)")
}

/// What keeps podman tests from running here, if anything; asked once.
fn podman_missing() -> Option<String> {
    static MISSING: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    MISSING
        .get_or_init(|| {
            let version = Command::new("podman").arg("--version").output();
            if !version.is_ok_and(|o| o.status.success()) {
                return Some("podman is not installed".into());
            }
            let runner = runner_path();
            if !runner.is_file() {
                return Some(format!("no runner at {}", runner.display()));
            }
            let missing: Vec<String> = CORE_IMAGES
                .iter()
                .map(|name| format!("localhost/whipcode-{name}:latest"))
                .filter(|image| {
                    !Command::new("podman")
                        .args(["image", "exists", image])
                        .status()
                        .is_ok_and(|s| s.success())
                })
                .collect();
            (!missing.is_empty()).then(|| format!("images not built: {}", missing.join(", ")))
        })
        .clone()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_whipcode")
}

/// The statically linked runner; `./task test` builds it and sets the variable.
pub fn runner() -> PathBuf {
    let path = runner_path();
    assert!(
        path.is_file(),
        "no runner at {} (run ./task test)",
        path.display()
    );
    path
}

fn runner_path() -> PathBuf {
    std::env::var_os("WHIPCODE_TEST_RUNNER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/runner/whipcode-runner")
        })
}

/// `--runner PATH` of the built runner, unless the test gives its own.
fn own_runner(extra: &[&str]) -> Vec<String> {
    if extra.contains(&"--runner") {
        Vec::new()
    } else {
        vec!["--runner".into(), runner().display().to_string()]
    }
}

/// `--drain-grace 0` (stop listening at SIGTERM, as a test that stops its
/// service expects), unless the test gives its own.
fn own_grace(extra: &[&str]) -> &'static [&'static str] {
    if extra.contains(&"--drain-grace") {
        &[]
    } else {
        &["--drain-grace", "0"]
    }
}

/// Where the crun engine keeps each instance's containers (their bundles).
pub const CRUN_BASE: &str = "/run/whipcode/crun";

/// Every container on the host, whoever owns it: podman's, and the crun
/// engine's of every instance.
pub fn host_container_count() -> usize {
    let out = Command::new("podman")
        .args(["ps", "--all", "--quiet"])
        .output()
        .expect("podman ps");
    let crun: usize = std::fs::read_dir(CRUN_BASE)
        .map(|dirs| dirs.flatten().map(|d| crun_bundles(&d.path()).len()).sum())
        .unwrap_or(0);
    String::from_utf8_lossy(&out.stdout).lines().count() + crun
}

/// The crun engine's containers in an instance directory.
fn crun_bundles(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("bundles"))
        .map(|b| {
            b.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The containers of `instance`, on either engine.
pub fn instance_containers(instance: &str) -> Vec<String> {
    let out = Command::new("podman")
        .args([
            "ps",
            "--all",
            "--filter",
            &format!("label=whipcode.instance={instance}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("podman ps");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.extend(crun_bundles(&Path::new(CRUN_BASE).join(instance)));
    names
}

/// Kills and removes a container of `instance` a test left (a dead
/// server's), on either engine.
pub fn remove_container(instance: &str, name: &str) {
    let _ = Command::new("podman")
        .args(["rm", "-f", "-t", "0", name])
        .output();
    let dir = Path::new(CRUN_BASE).join(instance);
    let state = dir.join("state");
    let _ = Command::new("crun")
        .arg("--root")
        .arg(&state)
        .args(["delete", "--force", name])
        .output();
    let _ = std::fs::remove_dir_all(dir.join("bundles").join(name));
}

/// `bytes` (a program's text, an archive) in standard base64.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Process `pid`'s peak resident memory (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

pub struct Service {
    pub url: String,
    pub instance: String,
    child: Child,
    dir: tempfile::TempDir,
    /// Every line the server wrote to stderr so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// Host container count when the service started; stop_and_check_clean expects it again.
    pub host_before: usize,
}

impl Service {
    /// Starts whipcode on a free port with a fresh key file and instance name.
    pub fn start(extra: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path());
        Service::start_with_key(&key, extra, dir)
    }

    pub fn start_with_key(key: &Path, extra: &[&str], dir: tempfile::TempDir) -> Service {
        Service::start_on(key, 0, extra, dir)
    }

    /// As [`Service::start_with_key`], on `port` of 127.0.0.1 (0: a free
    /// one); a fixed port lets a test start an instance again where a
    /// load balancer expects it.
    pub fn start_on(key: &Path, port: u16, extra: &[&str], dir: tempfile::TempDir) -> Service {
        let host_before = host_container_count();
        let given = extra.iter().position(|a| *a == "--instance");
        let instance = match given {
            Some(i) => extra[i + 1].to_owned(),
            None => format!("t{:08x}", rand::random::<u32>()),
        };
        let own_instance: &[&str] = if given.is_some() {
            &[]
        } else {
            &["--instance", &instance]
        };
        let port_file = dir.path().join("port");
        let mut child = Command::new(bin())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(key)
            .args(own_runner(extra))
            .args(own_grace(extra))
            .arg("--port-file")
            .arg(&port_file)
            .args(own_instance)
            .args(extra)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        let port = wait_for_port(&port_file, &mut child);
        let scheme = if extra.contains(&"--tls") {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        Service {
            url,
            instance,
            child,
            dir,
            logs,
            host_before,
        }
    }

    /// The server's working directory (holds its key file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the server to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "whipcode did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until the server's log contains `needle`; whether it did.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.log_text().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The server's log so far, as one string.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
    }

    /// POST /run with the right key; returns status and JSON body.
    pub async fn run(&self, body: Value) -> (u16, Value) {
        run_at(&self.url, body).await
    }

    /// `POST /run` with the key: the status, the `X-Whipcode-Cache` header
    /// and the body as sent.
    pub async fn run_raw(&self, body: &Value) -> (u16, Option<String>, String) {
        let response = Service::client()
            .post(format!("{}/run", self.url))
            .header("X-Master-Key", KEY)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("x-whipcode-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, cache, response.text().await.unwrap())
    }

    /// Runs `code` in language `lang` and expects a 200.
    pub async fn run_ok(&self, lang: u32, code: &str, extra: Value) -> Value {
        let mut body = json!({"language_id": lang, "code": b64(code)});
        if let Value::Object(extra) = extra {
            body.as_object_mut().unwrap().extend(extra);
        }
        let (status, body) = self.run(body).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Stops the server with SIGTERM and checks that no container is left:
    /// none of this instance, and the host's count is back to where it was.
    pub fn stop_and_check_clean(mut self) {
        self.terminate();
        let status = self.wait_exit(Duration::from_secs(60));
        assert!(status.success(), "whipcode exited with {status}");
        assert_eq!(instance_containers(&self.instance), Vec::<String>::new());
        wait_for_host_count(self.host_before);
    }
}

impl Service {
    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

/// A key file for [`KEY`] in `dir` (`whipcode --gen-key`), as servers
/// sharing one key take it.
pub fn key_file(dir: &Path) -> PathBuf {
    let key = dir.join("masterkey");
    let status = Command::new(bin())
        .args(["--gen-key", "-k"])
        .arg(&key)
        .env("WHIPCODE_MASTER_KEY", KEY)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    key
}

/// The port a server wrote to its `--port-file`, waiting (bounded) for it.
fn wait_for_port(file: &Path, child: &mut Child) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.trim().parse().expect("a port number");
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("whipcode exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "whipcode did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// POST /run to the service at `url` with the right key; status and JSON body.
pub async fn run_at(url: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{url}/run"), Some(KEY), &body).await
}

/// GETs `url` with `key` as `X-Master-Key`; the JSON answer.
pub async fn get_json(url: &str, key: &str) -> Value {
    Service::client()
        .get(url)
        .header("X-Master-Key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POSTs `body` as JSON to `url`, with `key` as `X-Master-Key` if given;
/// the status and the JSON answer (`null` if it is not JSON).
pub async fn post_json(url: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = Service::client().post(url).json(body);
    if let Some(key) = key {
        request = request.header("X-Master-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Waits (bounded) until the host's container count is `expected`, then asserts it.
pub fn wait_for_host_count(expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while host_container_count() != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        host_container_count(),
        expected,
        "containers left on the host"
    );
}

impl Drop for Service {
    fn drop(&mut self) {
        // Reached after a failed assertion: do not leave the server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            for name in instance_containers(&self.instance) {
                remove_container(&self.instance, &name);
            }
        }
    }
}

/// The pid of the podman REST API service a server started, if it runs.
pub fn podman_service_of(server_pid: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let is_service = cmdline.windows(15).any(|w| w == b"system\0service\0");
            (ppid == server_pid && is_service).then_some(pid)
        })
}

/// Waits (bounded) until process `pid` is gone; whether it went.
pub fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
