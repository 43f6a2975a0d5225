//! Hostile programs against real podman: each is contained, the next ordinary
//! run still answers, and nothing is left behind.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::{podman_lock, Service};
use serde_json::json;

/// An ordinary run right after a hostile one answers correctly and quickly.
async fn next_run_is_healthy(svc: &Service) {
    let started = Instant::now();
    let body = svc.run_ok(1, "print('still fine')", json!({})).await;
    assert_eq!(body["stdout"], "still fine\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_output_is_capped() {
    let _podman = podman_lock();
    let svc = Service::start(&["--output-limit", "65536"]);
    let body = svc.run_ok(3, "yes", json!({})).await;
    assert_eq!(body["truncated"], true);
    assert_eq!(body["stdout"].as_str().unwrap().len(), 65536);
    assert_eq!(body["signal"], "SIGKILL");
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_killed() {
    let _podman = podman_lock();
    let svc = Service::start(&[]);
    let body = svc
        .run_ok(
            1,
            "x = bytearray(2 * 1024 ** 3)\nprint('allocated')",
            json!({}),
        )
        .await;
    assert_ne!(body["stdout"], "allocated\n", "{body}");
    assert!(
        body["signal"] == "SIGKILL" || body["exit_code"] != 0,
        "{body}"
    );
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_is_contained() {
    let _podman = podman_lock();
    let svc = Service::start(&["-t", "5"]);
    let body = svc
        .run_ok(
            3,
            "bomb() { bomb | bomb & }; bomb; sleep 3; echo done",
            json!({}),
        )
        .await;
    assert!(body["stderr"].as_str().unwrap().contains("fork"), "{body}");
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[tokio::test(flavor = "multi_thread")]
async fn tmp_fill_is_bounded() {
    let _podman = podman_lock();
    let svc = Service::start(&[]);
    let body = svc
        .run_ok(
            3,
            "cat /dev/zero > /tmp/fill; du -sm /tmp | cut -f1",
            json!({}),
        )
        .await;
    let used: u64 = body["stdout"].as_str().unwrap().trim().parse().unwrap();
    assert!(used <= 64, "{body}");
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_from_other_than_the_proxy_are_403() {
    let _podman = podman_lock();
    let svc = Service::start(&["--proxy", "192.0.2.1"]);
    let (status, body) = svc
        .run(json!({"language_id": 1, "code": common::b64("print(1)")}))
        .await;
    assert_eq!(status, 403, "{body}");
    svc.stop_and_check_clean();
    let svc = Service::start(&["--proxy", "127.0.0.1"]);
    svc.run_ok(1, "print(1)", json!({})).await;
    svc.stop_and_check_clean();
}
