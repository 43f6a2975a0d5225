//! HAProxy in front of one or more instances, configured by the deployment
//! example (`deploy/haproxy-whipcode.cfg`) with only its key, addresses,
//! page origin, stats socket and log filled in; its stats socket tells
//! what its health checks make of each instance. `./task test` installs
//! Debian's haproxy (its service never started); where it is absent, a
//! test fails naming it, never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::gateway::{free_port, PAGE_ORIGIN};
use super::{missing, KEY};

/// The example's backend, as shipped: replaced by the test's instances.
const EXAMPLE_SERVERS: &str = "    server whipcode1 10.0.0.11:8000
    server whipcode2 10.0.0.12:8000
    server whipcode3 10.0.0.13:8000
";

/// HAProxy, or a failure naming it.
pub fn haproxy_test() {
    let installed = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        missing("haproxy is not installed (Debian's haproxy package)")
    }
}

/// HAProxy in front of the one service on `port`, once its checks have
/// found it ready; a failure naming HAProxy when it is missing.
pub fn behind_haproxy(port: u16) -> Balancer {
    haproxy_test();
    let balancer = Balancer::start(&[port]);
    let up = balancer.wait_status("whipcode1", "UP", Duration::from_secs(10));
    assert!(up.is_some(), "never up: {}", balancer.log_text());
    balancer
}

/// A private HAProxy, stopped on drop.
pub struct Balancer {
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
    /// Every line HAProxy logged so far (its request log, and the checks'
    /// changes of state).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Balancer {
    /// HAProxy on a free loopback port in front of whipcode on each of
    /// `upstreams` (servers `whipcode1`, `whipcode2`, … in that order).
    pub fn start(upstreams: &[u16]) -> Balancer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = Balancer::config(dir.path(), port, upstreams);
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let check = Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c refused the example: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let mut child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("haproxy starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&log));
        collect(child.stderr.take().unwrap(), Arc::clone(&log));
        let mut balancer = Balancer {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
            log,
        };
        balancer.wait_listening(port);
        balancer
    }

    /// The shipped example with the test's key, origin, addresses, stats
    /// socket and log (to stdout, which the test reads).
    fn config(dir: &Path, port: u16, upstreams: &[u16]) -> String {
        let example =
            std::fs::read_to_string(super::gateway::repo().join("deploy/haproxy-whipcode.cfg"))
                .unwrap();
        let servers: String = upstreams
            .iter()
            .enumerate()
            .map(|(i, port)| format!("    server whipcode{} 127.0.0.1:{port}\n", i + 1))
            .collect();
        let socket = format!("stats socket {}/admin.sock", dir.display());
        [
            ("REPLACE_WITH_THE_MASTER_KEY", KEY.to_owned()),
            (
                "\"https://playground.example\"",
                format!("\"{PAGE_ORIGIN}\""),
            ),
            ("bind :2000", format!("bind 127.0.0.1:{port}")),
            ("stats socket /run/haproxy/admin.sock", socket),
            ("log /dev/log local0", "log stdout format raw local0".into()),
            (EXAMPLE_SERVERS, servers),
        ]
        .into_iter()
        .fold(example, |text, (from, to)| fill(&text, from, &to))
    }

    fn wait_listening(&mut self, port: u16) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("haproxy exited ({status}): {}", self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("haproxy did not listen on {port}: {}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// One command on the stats socket; its answer.
    pub fn command(&self, line: &str) -> String {
        let mut socket = UnixStream::connect(self.dir.path().join("admin.sock")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer
    }

    /// What the checks make of server `name` now: `UP`, `DOWN`, or on the
    /// way (`UP 1/2`: up, one check failed), from `show stat`.
    pub fn status(&self, name: &str) -> String {
        let stat = self.command("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |field: &str| header.iter().position(|h| *h == field).unwrap();
        let (server, status) = (column("svname"), column("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"whipcode") && f.get(server) == Some(&name))
            .and_then(|f| f.get(status).map(|s| (*s).to_owned()))
            .unwrap_or_else(|| panic!("no server {name} in: {stat}"))
    }

    /// Waits (bounded) until server `name`'s status is `wanted` exactly;
    /// how long it took, or `None`.
    pub fn wait_status(&self, name: &str, wanted: &str, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            if self.status(name) == wanted {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        // Started with -db (no master process): SIGKILL leaves nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies each line of `from` into `log` as it comes.
fn collect(from: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            log.lock().unwrap().push(line);
        }
    });
}

/// `text` with its one `from` replaced: the example must keep the shape the
/// tests fill in.
fn fill(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the HAProxy example should contain {from:?} once"
    );
    text.replace(from, to)
}
