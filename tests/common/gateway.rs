//! nginx in front of a service, configured by the deployment example
//! (`deploy/nginx-whipcode.conf`) with only its key, addresses and page
//! origin filled in, and the npm `piston-client` (in `tests/piston-client`) run by Node
//! against it. `./task test` installs nginx and the client.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{missing, podman_test, KEY};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn client_dir() -> PathBuf {
    repo().join("tests/piston-client")
}

/// The start of a test through the gateway: [`podman_test`], and nginx,
/// Node and the installed client, or a failure naming what is missing.
pub fn gateway_test() -> MutexGuard<'static, ()> {
    let podman = podman_test();
    nginx_test();
    node_test();
    if !client_dir().join("node_modules/piston-client").is_dir() {
        missing("the npm piston-client is not installed in tests/piston-client");
    }
    podman
}

/// The page origin the example's `$whipcode_ticket_key` map is given: the
/// one page whose POST /tickets gets the key.
pub const PAGE_ORIGIN: &str = "http://page.test:8080";

/// The start of a test through nginx alone (its service in this process):
/// a failure naming nginx when it is missing.
pub fn nginx_test() {
    if !runs("nginx", "-v") {
        missing("nginx is not installed");
    }
}

/// Node.js, or a failure naming it.
pub fn node_test() {
    if !runs("node", "--version") {
        missing("node is not installed");
    }
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A service that only nginx (on 127.0.0.1) may reach, with `extra` flags,
/// and the gateway in front of it.
pub fn behind_nginx(extra: &[&str]) -> (super::Service, Gateway) {
    let mut args = vec!["--proxy", "127.0.0.1"];
    args.extend_from_slice(extra);
    let svc = super::Service::start(&args);
    let gateway = Gateway::start(svc.port());
    (svc, gateway)
}

/// A private nginx, stopped on drop.
pub struct Gateway {
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Gateway {
    /// nginx on a free port, proxying to whipcode on `upstream`, as the
    /// example configures it.
    pub fn start(upstream: u16) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as nobody; they need to reach the temp paths.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = free_port();
        let example = std::fs::read_to_string(repo().join("deploy/nginx-whipcode.conf")).unwrap();
        let site = fill(&example, "REPLACE_WITH_THE_MASTER_KEY", KEY);
        let site = fill(
            &site,
            "server 127.0.0.1:8000 ",
            &format!("server 127.0.0.1:{upstream} "),
        );
        let site = fill(&site, "listen 2000;", &format!("listen 127.0.0.1:{port};"));
        let page = format!("\"{PAGE_ORIGIN}\"");
        let site = fill(&site, "\"https://playground.example\"", &page);
        std::fs::write(dir.path().join("whipcode.conf"), site).unwrap();
        let d = dir.path().display();
        let main = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/whipcode.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let mut gateway = Gateway {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        gateway.wait_listening(port);
        gateway
    }

    fn wait_listening(&mut self, port: u16) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not listen on {port}: {}", self.error_log());
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// nginx's access log: one line per request it served.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The npm piston-client's `runtimes()`, then `execute(...call.args)`
    /// for each call, as the client returned them: `{runtimes, results}`.
    pub fn piston_client(&self, calls: &Value) -> Value {
        let out = Command::new("node")
            .arg(client_dir().join("execute.mjs"))
            .arg(&self.url)
            .arg(calls.to_string())
            .current_dir(client_dir())
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "the client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the client printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        stop_nginx(&mut self.child);
    }
}

/// Stops an nginx and its workers: SIGTERM, on which the master stops its
/// workers before it exits (a SIGKILL would leave them running, orphaned),
/// then SIGKILL if it still runs after a few seconds.
pub fn stop_nginx(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `text` with its one `from` replaced: the example must keep the shape the
/// tests fill in.
fn fill(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the nginx example should contain {from:?} once"
    );
    text.replace(from, to)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
