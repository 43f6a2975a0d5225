//! A Redis of the test's own, for the shared Judge0 store (`--store`):
//! Debian's `redis-server` on a free loopback port, with a private
//! directory and no snapshots, stopped on drop. Without an append-only
//! file a restart comes back empty; started persistent, every write is
//! synced to one (as an operator runs it) and a restart comes back with
//! the data. A test that starts one is `#[ignore = "needs redis-server"]`
//! (`./task test` installs it, from `TEST_APT_PACKAGES`); where it is
//! absent, the test fails naming it, never skips.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::gateway::free_port;
use super::missing;

/// A running `redis-server`; stopped (and its directory removed) on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Whether every write goes to an append-only file, synced at once.
    persistent: bool,
}

impl Redis {
    /// Starts one on a free loopback port; fails the test when
    /// `redis-server` is not installed or does not answer within 10 s.
    pub fn start() -> Redis {
        Redis::start_with(false)
    }

    /// The same with every write in an append-only file synced at once
    /// (`--appendonly yes --appendfsync always`): `stop` loses nothing and
    /// `restart` comes back with the data, as after an operator's restart.
    pub fn start_persistent() -> Redis {
        Redis::start_with(true)
    }

    fn start_with(persistent: bool) -> Redis {
        let installed = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            missing("redis-server is not installed (Debian's redis-server package)")
        }
        let dir = tempfile::tempdir().unwrap();
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir,
            persistent,
        };
        redis.spawn();
        redis
    }

    /// `redis://127.0.0.1:PORT/`, what `--store` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (SIGKILL: an outage, not a shutdown); `restart` brings it
    /// back on the same port, empty unless it is persistent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after `stop`), with its data when
    /// it is persistent.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// One command in Redis's inline form (`DBSIZE`, `XLEN key`); its
    /// reply as written, e.g. `:3` or `+PONG`.
    pub fn command(&self, line: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut reply = vec![0; 64 * 1024];
        let n = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..n]).trim_end().to_owned()
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--protected-mode", "yes"])
            .args(self.append_only())
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not answer on port {} within 10 s",
            self.port
        );
    }

    /// The append-only file's flags: every write synced when persistent,
    /// none kept otherwise.
    fn append_only(&self) -> &'static [&'static str] {
        if self.persistent {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 16];
        stream.write_all(b"PING\r\n").is_ok()
            && stream
                .read(&mut reply)
                .is_ok_and(|n| reply[..n].starts_with(b"+PONG"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
