//! One host identity per live run, on default settings, against real podman:
//! runs alive at the same time never share a host uid, across instances, and
//! a range stays taken while a killed server's container may still use it.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{b64, run_at, Service};
use serde_json::json;

/// Host uids of the processes whose command line starts with `marker`,
/// waiting (bounded) until `count` of them are seen.
fn host_uids_of(marker: &str, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let uids: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                if !cmdline.starts_with(marker.as_bytes()) {
                    return None;
                }
                let status = std::fs::read_to_string(e.path().join("status")).ok()?;
                let line = status.lines().find(|l| l.starts_with("Uid:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .collect();
        if uids.len() >= count || Instant::now() > deadline {
            return uids;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a 4-second Bash run whose process is named `marker`, at `url`.
fn sleeper(url: &str, marker: &str) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let body = json!({"language_id": 3, "code": b64(format!("exec -a {marker} sleep 4"))});
    let url = url.to_owned();
    tokio::spawn(async move { run_at(&url, body).await })
}

fn marker() -> String {
    format!("marker{:08x}", rand::random::<u32>())
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_runs_have_different_host_uids() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let name = marker();
    let runs = [sleeper(&svc.url, &name), sleeper(&svc.url, &name)];
    let uids = host_uids_of(&name, 2);
    for run in runs {
        assert_eq!(run.await.unwrap().0, 200);
    }
    let distinct: BTreeSet<u32> = uids.iter().copied().collect();
    assert_eq!((uids.len(), distinct.len()), (2, 2), "host uids {uids:?}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_host_give_their_runs_different_host_uids() {
    let _podman = common::podman_test();
    let start = || Service::start(&["--pool-size", "0"]);
    let (a, b) = (start(), start());
    let name = marker();
    let runs = [sleeper(&a.url, &name), sleeper(&b.url, &name)];
    let uids = host_uids_of(&name, 2);
    for run in runs {
        assert_eq!(run.await.unwrap().0, 200);
    }
    let distinct: BTreeSet<u32> = uids.iter().copied().collect();
    assert_eq!((uids.len(), distinct.len()), (2, 2), "host uids {uids:?}");
    a.stop_and_check_clean();
    b.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn no_run_is_host_root_or_host_nobody() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let name = marker();
    let run = sleeper(&svc.url, &name);
    let uids = host_uids_of(&name, 1);
    assert_eq!(run.await.unwrap().0, 200);
    assert_eq!(uids.len(), 1);
    assert!(uids[0] != 0 && uids[0] != 65534, "host uid {}", uids[0]);
    assert!(
        uids[0] >= 1_000_000_000,
        "from the project's ranges: {}",
        uids[0]
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn cpu_time_is_the_kernels_figure() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // A detached grandchild spins for 0.6 s; the program waits for it by
    // sleeping, so only the container's cgroup sees the spinning.
    let code = "import os, time\n\
                if os.fork() == 0:\n    \
                    os.setsid()\n    \
                    if os.fork() == 0:\n        \
                        end = time.time() + 0.6\n        \
                        while time.time() < end: pass\n    \
                    os._exit(0)\n\
                os.wait()\n\
                time.sleep(0.9)\n";
    let body = svc.run_ok(1, code, json!({})).await;
    assert_eq!(body["cpu_time_source"], "cgroup", "{body}");
    let cpu = body["cpu_time"].as_f64().unwrap();
    assert!(cpu >= 0.45, "the detached child's CPU counts: {body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_range_is_not_reused_while_a_killed_servers_container_lives() {
    let _podman = common::podman_test();
    const BASE: u32 = 1_000_000_000;
    const SIZE: u32 = 65536;
    let dir = std::path::Path::new("/run/whipcode/idranges");
    std::fs::create_dir_all(dir).unwrap();
    // Two servers; the first takes a range for a run and is killed while it
    // runs. The second is already up (its startup sweep is behind it; its
    // next sweep is a minute away), so the dead server's run lives on.
    let mut first = Service::start(&["--pool-size", "0"]);
    let svc = Service::start(&["--pool-size", "0"]);
    let reserved = || -> BTreeSet<u32> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    };
    let before = reserved();
    let name = marker();
    let _orphaned = sleeper(&first.url, &name);
    assert_eq!(host_uids_of(&name, 1).len(), 1, "the run is alive");
    let taken: Vec<u32> = reserved().difference(&before).copied().collect();
    assert_eq!(taken.len(), 1, "one range reserved by the run: {taken:?}");
    let orphan_range = taken[0];
    std::process::Command::new("kill")
        .args(["-9", &first.pid().to_string()])
        .status()
        .unwrap();
    first.wait_exit(Duration::from_secs(10));
    // Every other range is taken by a live owner (this test process), but
    // one: range `free`, reserved by a dead owner with no container.
    let me = std::fs::read_to_string("/proc/self/stat").unwrap();
    let started = me
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_owned();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let live_line = format!("{} {started} {}\n", std::process::id(), boot.trim());
    // The lowest range nobody holds becomes the dead owner's free one.
    let free = (0..4096u32)
        .find(|i| *i != orphan_range && !before.contains(i))
        .unwrap();
    let mut written = Vec::new();
    for i in 0..4096u32 {
        let path = dir.join(i.to_string());
        if i == orphan_range || before.contains(&i) {
            continue;
        }
        let line = if i == free {
            "1 1 a-dead-boot\n".to_owned()
        } else {
            live_line.clone()
        };
        std::fs::write(&path, line).unwrap();
        written.push(path);
    }
    assert!(
        !host_uids_of(&name, 1).is_empty(),
        "the dead server's run still lives"
    );
    let body = svc
        .run_ok(
            1,
            "print(open('/proc/self/uid_map').read().split()[1])",
            json!({}),
        )
        .await;
    for path in &written {
        let _ = std::fs::remove_file(path);
    }
    let host = body["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    // Forced to reclaim a range whose owner is gone: one no container
    // carries (`free`, or an older dead reservation), never the orphan's.
    assert_ne!(
        host,
        BASE + orphan_range * SIZE,
        "the orphan's range was reused"
    );
    let index = (host - BASE) / SIZE;
    assert!(
        index == free || before.contains(&index),
        "range {index}: {body}"
    );
    // The dead server's run is the test's to remove (the next sweep would).
    for orphan in common::instance_containers(&first.instance) {
        common::remove_container(&first.instance, &orphan);
    }
    svc.stop_and_check_clean();
    drop(first);
}
