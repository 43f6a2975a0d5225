//! A fleet: several instances of the service on one machine as several
//! hosts run them behind a balancer, each on a loopback port of its own
//! kept across a restart (where the balancer expects it; the instances of
//! [`super::instances`] take any free port), all sharing one key file and
//! one Redis of the fleet's own (`--store`), each reachable only from the
//! balancer's address (`--proxy 127.0.0.1`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::gateway::free_port;
use super::redis::Redis;
use super::{instance_containers, remove_container, Service};

/// The instances, each stopped (and its containers removed) on drop.
pub struct Fleet {
    pub redis: Redis,
    pub ports: Vec<u16>,
    names: Vec<String>,
    running: Vec<Option<Service>>,
    key_dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Fleet {
    /// `count` instances sharing a fresh key file and a fresh Redis, each
    /// started with `extra` flags too.
    pub fn start(count: usize, extra: &[&str]) -> Fleet {
        let key_dir = tempfile::tempdir().unwrap();
        super::key_file(key_dir.path());
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let mut fleet = Fleet {
            redis: Redis::start(),
            ports: (0..count).map(|_| free_port()).collect(),
            names: (0..count).map(|i| format!("lb{tag}-{i}")).collect(),
            running: (0..count).map(|_| None).collect(),
            key_dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        for i in 0..count {
            fleet.start_one(i);
        }
        fleet
    }

    fn key(&self) -> PathBuf {
        self.key_dir.path().join("masterkey")
    }

    /// Starts instance `i` (again) on its port, under its name.
    pub fn start_one(&mut self, i: usize) {
        let store = self.redis.url();
        let mut args: Vec<&str> = vec![
            "--proxy",
            "127.0.0.1",
            "--store",
            &store,
            "--instance",
            &self.names[i],
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start_on(&self.key(), self.ports[i], &args, dir);
        self.running[i] = Some(service);
    }

    /// Instance `i`, which must be running.
    pub fn service(&self, i: usize) -> &Service {
        self.running[i].as_ref().expect("the instance runs")
    }

    /// Sends instance `i` SIGTERM.
    pub fn terminate(&self, i: usize) {
        self.service(i).terminate();
    }

    /// Waits (bounded) for instance `i` to exit after SIGTERM; it must
    /// exit cleanly. Its log.
    pub fn wait_stopped(&mut self, i: usize, within: Duration) -> String {
        let mut service = self.running[i].take().expect("the instance runs");
        let status = service.wait_exit(within);
        let log = service.log_text();
        assert!(
            status.success(),
            "instance {i} exited with {status}:\n{log}"
        );
        log
    }

    /// `kill -9` instance `i`; the containers it leaves are removed.
    pub fn kill(&mut self, i: usize) {
        let Some(service) = self.running[i].take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-KILL", &service.pid().to_string()])
            .status();
        drop(service);
        self.remove_left(i);
    }

    fn remove_left(&self, i: usize) {
        let name = &self.names[i];
        for container in instance_containers(name) {
            remove_container(name, &container);
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in 0..self.running.len() {
            if let Some(service) = self.running[i].take() {
                service.terminate();
                drop(service);
            }
            self.remove_left(i);
        }
    }
}
