//! Several instances of the service as a load balancer sees them: one Redis
//! for Judge0's asynchronous API (`--store`), one key file, a port each;
//! the store a single server keeps Judge0's submissions in ([`Store`]), so
//! one test body runs on either; and a receiver of Judge0's callbacks that
//! records every one it is sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::redis::Redis;
use super::{host_container_count, instance_containers, remove_container, Service};

/// Where a server keeps Judge0's asynchronous submissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// In the server's memory (the default).
    Embedded,
    /// In a Redis of the test's own (`--store redis://…`).
    Redis,
}

impl Store {
    /// A server on this store with `extra` flags, and the Redis it uses
    /// (keep it as long as the server).
    pub fn start(self, extra: &[&str]) -> (Service, Option<Redis>) {
        match self {
            Store::Embedded => (Service::start(extra), None),
            Store::Redis => {
                let redis = Redis::start();
                let url = redis.url();
                let flags: Vec<&str> = ["--store", url.as_str()]
                    .into_iter()
                    .chain(extra.iter().copied())
                    .collect();
                (Service::start(&flags), Some(redis))
            }
        }
    }
}

/// `n` servers sharing one Redis and one key file.
pub struct Instances {
    pub all: Vec<Service>,
    /// Holds the shared key file.
    _key: tempfile::TempDir,
    /// The host's container count before the first started.
    host_before: usize,
}

impl Instances {
    /// Starts `n` servers on `redis` (`--store`), each on a port of its own
    /// with `extra` flags and the same key.
    pub fn start(redis: &Redis, n: usize, extra: &[&str]) -> Instances {
        let host_before = host_container_count();
        let key_dir = tempfile::tempdir().unwrap();
        let key = super::key_file(key_dir.path());
        let url = redis.url();
        let flags: Vec<&str> = ["--store", url.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let all = (0..n)
            .map(|_| Service::start_with_key(&key, &flags, tempfile::tempdir().unwrap()))
            .collect();
        Instances {
            all,
            _key: key_dir,
            host_before,
        }
    }

    /// Kills server `i` with SIGKILL (a crash: nothing of it runs after)
    /// and removes the containers it left; the dead server.
    pub fn kill(&mut self, i: usize) -> Service {
        let mut dead = self.all.remove(i);
        let status = Command::new("kill")
            .args(["-KILL", &dead.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -9 {}", dead.pid());
        dead.wait_exit(Duration::from_secs(10));
        for name in instance_containers(&dead.instance) {
            remove_container(&dead.instance, &name);
        }
        dead
    }

    /// Stops every server still running with SIGTERM and checks that none
    /// left a container: the host's count is back to where it was.
    pub fn stop_and_check_clean(mut self) {
        for svc in &self.all {
            svc.terminate();
        }
        for svc in &mut self.all {
            let status = svc.wait_exit(Duration::from_secs(60));
            assert!(status.success(), "{} exited with {status}", svc.instance);
            assert_eq!(instance_containers(&svc.instance), Vec::<String>::new());
        }
        super::wait_for_host_count(self.host_before);
    }
}

impl std::ops::Index<usize> for Instances {
    type Output = Service;

    fn index(&self, i: usize) -> &Service {
        &self.all[i]
    }
}

/// One request a [`Callbacks`] receiver was sent.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Its request line, e.g. `PUT /done HTTP/1.1`.
    pub line: String,
    /// Its body as JSON (`null` when it is not JSON).
    pub body: Value,
}

/// An HTTP receiver on a free loopback port that answers every request
/// with 200 (and closes the connection) and records it; stopped on drop.
pub struct Callbacks {
    port: u16,
    received: Arc<Mutex<Vec<Callback>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Callbacks {
    pub fn start() -> Callbacks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let sink = Arc::clone(&sink);
                        std::thread::spawn(move || {
                            if let Some(callback) = answer(stream) {
                                sink.lock().unwrap().push(callback);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Callbacks {
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}`, a `callback_url` that reaches it.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in the order they arrived.
    pub fn received(&self) -> Vec<Callback> {
        self.received.lock().unwrap().clone()
    }

    /// How many callbacks each token had so far.
    pub fn per_token(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for callback in self.received() {
            if let Some(token) = callback.body["token"].as_str() {
                *counts.entry(token.to_owned()).or_default() += 1;
            }
        }
        counts
    }

    /// Waits (bounded) until every one of `tokens` had a callback; those
    /// that had none by then.
    pub fn wait_for(&self, tokens: &[String], within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let counts = self.per_token();
            let missing: Vec<String> = tokens
                .iter()
                .filter(|t| !counts.contains_key(*t))
                .cloned()
                .collect();
            if missing.is_empty() || Instant::now() > deadline {
                return missing;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Callbacks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and answers 200; what it was sent
/// (`None`: the connection closed before a whole request).
fn answer(mut stream: TcpStream) -> Option<Callback> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    // A connection closed before its request (a sender killed meanwhile)
    // is no callback.
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .ok()?;
    Some(Callback {
        line: line.trim_end().to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}
