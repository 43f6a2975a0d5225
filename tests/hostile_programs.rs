//! Hostile programs against real podman: each is contained, the next ordinary
//! run still answers, and nothing is left behind.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::Service;
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

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn endless_output_is_capped() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--output-limit", "65536"]);
    let body = svc.run_ok(3, "yes", json!({})).await;
    assert_eq!(body["truncated"], true);
    assert_eq!(body["stdout"].as_str().unwrap().len(), 65536);
    assert_eq!(body["signal"], "SIGKILL");
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_is_killed() {
    let _podman = common::podman_test();
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
    assert_eq!(
        body["oom_killed"], true,
        "the kernel's OOM kill is reported: {body}"
    );
    let peak = body["memory_peak"].as_u64().unwrap();
    assert!(peak > 400 << 20 && peak <= 512 << 20, "peak {peak}");
    let ordinary = svc.run_ok(1, "print('small')", json!({})).await;
    assert_eq!(ordinary["oom_killed"], false, "{ordinary}");
    assert!(ordinary["memory_peak"].as_u64().unwrap() < 100 << 20);
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_is_contained() {
    let _podman = common::podman_test();
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

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn fork_bomb_does_not_disturb_a_concurrent_run() {
    let _podman = common::podman_test();
    let svc = Service::start(&["-t", "6"]);
    let bomb = svc.run_ok(3, "bomb() { bomb | bomb & }; bomb; sleep 5", json!({}));
    let ordinary = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let started = Instant::now();
        let body = svc.run_ok(1, "print(sum(range(1000)))", json!({})).await;
        (body, started.elapsed())
    };
    let (_, (body, took)) = tokio::join!(bomb, ordinary);
    assert_eq!(body["stdout"], "499500\n", "{body}");
    assert!(took < Duration::from_secs(5), "the neighbour took {took:?}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_loop_is_stopped_by_the_cpu_time_limit_before_the_timeout() {
    let _podman = common::podman_test();
    let svc = Service::start(&["-t", "20", "--cpu-time", "1"]);
    let started = Instant::now();
    let body = svc.run_ok(1, "while True: pass", json!({})).await;
    assert_eq!(body["timeout"], false, "{body}");
    assert!(
        body["signal"] == "SIGXCPU" || body["signal"] == "SIGKILL",
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn output_floods_keep_the_server_memory_bounded() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--output-limit", "67108864"]);
    let flood = "import sys\nchunk = 'x' * 1048576\nfor _ in range(200): sys.stdout.write(chunk)\n";
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let url = svc.url.clone();
            let body = json!({"language_id": 1, "code": common::b64(flood)});
            tokio::spawn(async move { common::run_at(&url, body).await })
        })
        .collect();
    for run in runs {
        let (status, body) = run.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["truncated"], true);
        assert_eq!(body["stdout"].as_str().unwrap().len(), 64 << 20);
    }
    let hwm_kb = common::peak_rss(svc.pid()) / 1024;
    assert!(hwm_kb < 400 * 1000, "server peak RSS {hwm_kb} kB");
    next_run_is_healthy(&svc).await;
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn server_survives_kill_and_reaps_on_restart() {
    let _podman = common::podman_test();
    let before = common::host_container_count();
    let svc = Service::start(&["-t", "30"]);
    let instance = svc.instance.clone();
    let url = svc.url.clone();
    let pending = tokio::spawn(async move {
        let _ = Service::client()
            .post(format!("{url}/run"))
            .header("X-Master-Key", common::KEY)
            .json(&json!({"language_id": 3, "code": common::b64("sleep 30")}))
            .send()
            .await;
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::instance_containers(&instance).is_empty() {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let podman_service = common::podman_service_of(svc.pid()).expect("podman's service runs");
    std::process::Command::new("kill")
        .args(["-KILL", &svc.pid().to_string()])
        .status()
        .unwrap();
    let _ = pending.await;
    assert!(
        common::wait_gone(podman_service, Duration::from_secs(10)),
        "podman's REST API service outlived the killed server"
    );
    assert!(
        !common::instance_containers(&instance).is_empty(),
        "after kill -9 the container outlives the server"
    );
    drop(svc);

    let mut restarted = Service::start(&["--instance", &instance]);
    // It started while the leftover existed; clean means back to before it all.
    restarted.host_before = before;
    assert!(
        common::instance_containers(&instance).is_empty(),
        "the restart removed what the killed server left"
    );
    next_run_is_healthy(&restarted).await;
    restarted.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn tmp_fill_is_bounded() {
    let _podman = common::podman_test();
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

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn requests_from_other_than_the_proxy_are_403() {
    let _podman = common::podman_test();
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
