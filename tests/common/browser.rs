//! Pages of the project's own in a real browser: Debian's Chromium
//! (`/usr/bin/chromium`) driven by the npm `playwright-core` (in
//! `tests/browser`, pinned by its lock file), headless and kept off the
//! network (`tests/browser/chromium.mjs` names the flags). The pages are
//! served by a private nginx on loopback ports of their own, so they are
//! another origin than the gateway. `./task test` installs Chromium (apt)
//! and playwright-core (npm).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::gateway::{free_port, stop_nginx};
use super::{missing, podman_test};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The longest a browser script may take; then it is stopped, and its
/// Chromium with it.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The start of a browser test: [`podman_test`], and nginx, Node, Chromium
/// and playwright-core, or a failure naming what is missing.
pub fn browser_test() -> MutexGuard<'static, ()> {
    let podman = podman_test();
    super::gateway::nginx_test();
    super::gateway::node_test();
    if !Path::new(CHROMIUM).is_file() {
        missing("Chromium is not installed (apt-get install chromium)");
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        missing("the npm playwright-core is not installed in tests/browser");
    }
    podman
}

/// A private nginx serving a copy of a fixture directory of `tests/browser`
/// on loopback ports of its own, one origin each; stopped on drop.
pub struct PageServer {
    /// `http://127.0.0.1:PORT`, one per port.
    pub origins: Vec<String>,
    child: Child,
    dir: tempfile::TempDir,
}

impl PageServer {
    pub fn start(fixture: &str, origins: usize) -> PageServer {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as nobody; they read the copy, not the tree.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let site = dir.path().join("site");
        copy_dir(&browser_dir().join(fixture), &site);
        let ports: Vec<u16> = (0..origins).map(|_| free_port()).collect();
        let d = dir.path().display();
        let listen: String = ports
            .iter()
            .map(|p| format!("    listen 127.0.0.1:{p};\n"))
            .collect();
        let conf = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             types {{ text/html html; text/javascript js; }}\n  \
             server {{\n{listen}    root {d}/site;\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
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
        let mut server = PageServer {
            origins: ports
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect(),
            child,
            dir,
        };
        for port in ports {
            server.wait_listening(port);
        }
        server
    }

    fn wait_listening(&mut self, port: u16) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("error.log"));
                panic!(
                    "the page server exited ({status}): {}",
                    log.unwrap_or_default()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the page server did not listen on {port}");
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        stop_nginx(&mut self.child);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs `node tests/browser/<script> <arg>` and returns the JSON it prints.
/// Chromium runs with a home of its own (its crash handler's database and
/// any profile land there, not in root's home) and is marked with a tag of
/// this run: whatever path the script ends by (success, failure, the
/// deadline), no process of either is left.
pub fn run_script(script: &str, arg: &Value) -> Value {
    let home = tempfile::tempdir().unwrap();
    let tag = format!("--whipcode-test={:08x}", rand::random::<u32>());
    let _leftovers = KillTagged(vec![tag.clone(), home.path().display().to_string()]);
    let mut child = Command::new("node")
        .arg(browser_dir().join(script))
        .arg(arg.to_string())
        .env("WHIPCODE_BROWSER_TAG", &tag)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .current_dir(browser_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_or_stop(&mut child, SCRIPT_DEADLINE);
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.is_some_and(|s| s.success()),
        "{script} failed ({status:?}): {err}"
    );
    let left = tagged(&_leftovers.0, Duration::from_secs(10));
    assert!(left.is_empty(), "Chromium outlived {script}: {left:?}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {out}\n{err}"))
}

/// The child's exit status, or, past `deadline`, None once it is stopped:
/// SIGTERM first (playwright then closes its Chromium), SIGKILL after.
fn wait_or_stop(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(child.id(), "TERM");
    let grace = Instant::now() + Duration::from_secs(5);
    while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// The processes with one of `marks` in an argument of their command line,
/// once none is left or `within` has passed.
fn tagged(marks: &[String], within: Duration) -> Vec<u32> {
    let until = Instant::now() + within;
    loop {
        let pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline);
                let marked = cmdline
                    .split('\0')
                    .any(|arg| marks.iter().any(|m| arg.contains(m.as_str())));
                marked.then_some(pid)
            })
            .collect();
        if pids.is_empty() || Instant::now() > until {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// On drop (the test's end or a failed assertion), kills by id every
/// process left with one of its marks.
struct KillTagged(Vec<String>);

impl Drop for KillTagged {
    fn drop(&mut self) {
        for pid in tagged(&self.0, Duration::ZERO) {
            signal(pid, "KILL");
        }
    }
}
