//! Containment against real podman, one promise per test: the project's
//! seccomp profile answers what this host would otherwise allow with its own
//! errno, the runner (PID 1) is out of the program's reach, and a killed
//! server's containers do not outlive it.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::Service;
use serde_json::json;

const EPERM: &str = "1";
const ENOSYS: &str = "38";

/// A Python preamble: `call(nr, *args)` makes a raw system call and gives
/// the errno it failed with ("0" if it succeeded; a child of a successful
/// clone exits at once).
const SYSCALL: &str = "import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if r == 0 and nr == 56: os._exit(0)
    return str(ctypes.get_errno()) if r == -1 else '0'
buf = ctypes.create_string_buffer(256)
addr = ctypes.addressof(buf)
";

/// Runs `body` after the preamble in a fresh service; its stdout, one word a line.
async fn python(body: &str) -> Vec<String> {
    let svc = Service::start(&[]);
    let out = svc.run_ok(1, &format!("{SYSCALL}{body}"), json!({})).await;
    svc.stop_and_check_clean();
    assert_eq!(out["stderr"], "", "{out}");
    out["stdout"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn user_namespaces_cannot_be_created() {
    let _podman = common::podman_test();
    const CLONE_NEWUSER: i64 = 0x1000_0000;
    const SIGCHLD: i64 = 17;
    let out = python(&format!(
        "print(call(272, {CLONE_NEWUSER}))\nprint(call(56, {}, 0, 0, 0, 0))",
        CLONE_NEWUSER | SIGCHLD
    ))
    .await;
    assert_eq!(
        out,
        [EPERM, EPERM],
        "unshare, then clone with CLONE_NEWUSER"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn clone3_answers_enosys() {
    let _podman = common::podman_test();
    // Without the profile the kernel answers EINVAL to a zero size.
    let out = python("print(call(435, addr, 0))").await;
    assert_eq!(out, [ENOSYS]);
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn keyrings_are_out_of_reach() {
    let _podman = common::podman_test();
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING), add_key, request_key.
    let out = python("print(call(250, 0, -3, 0))\nprint(call(248, addr, addr, 0, 0, -3))\nprint(call(249, addr, addr, 0, 0))").await;
    assert_eq!(out, [EPERM, EPERM, EPERM]);
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn io_uring_is_refused() {
    let _podman = common::podman_test();
    let out = python("print(call(425, 4, addr))").await;
    assert_eq!(out, [EPERM], "io_uring_setup");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn perf_events_are_refused() {
    let _podman = common::podman_test();
    // With perf_event_paranoid 2 the kernel itself would answer EACCES.
    let out = python("print(call(298, addr, 0, -1, -1, 0))").await;
    assert_eq!(out, [EPERM], "perf_event_open");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_runner_cannot_be_opened_by_the_program() {
    let _podman = common::podman_test();
    let out = python(
        "for path, mode in [('/proc/1/fd/1', 'wb'), ('/proc/1/mem', 'rb'), ('/proc/1/fd/0', 'rb')]:
    try:
        open(path, mode); print('opened')
    except OSError as e: print(e.errno)
",
    )
    .await;
    // EACCES, or ENOENT where /proc hides a process the program may not trace.
    for (what, errno) in ["fd 1", "mem", "fd 0"].iter().zip(&out) {
        assert!(
            errno == "13" || errno == "2",
            "/proc/1/{what}: {errno} ({out:?})"
        );
    }
    assert_eq!(out.len(), 3, "{out:?}");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn containers_of_a_killed_server_are_removed_by_the_next_server_whatever_its_name() {
    let _podman = common::podman_test();
    let mut first = Service::start(&["--pool-size", "2"]);
    first.run_ok(3, "echo warm", json!({})).await;
    // Wait for the pool to hold warm containers of the first server.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::instance_containers(&first.instance).is_empty() {
        assert!(Instant::now() < deadline, "no warm container appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let private_dirs = private_dirs_of(first.pid());
    assert_eq!(private_dirs.len(), 1, "{private_dirs:?}");
    std::process::Command::new("kill")
        .args(["-9", &first.pid().to_string()])
        .status()
        .unwrap();
    first.wait_exit(Duration::from_secs(10));
    assert!(private_dirs[0].is_dir(), "a kill -9 leaves it behind");
    let orphans = common::instance_containers(&first.instance);
    assert!(
        !orphans.is_empty(),
        "the killed server's containers are still there"
    );
    // A server with another name and port sweeps them at startup.
    let mut second = Service::start(&[]);
    // Counted before its sweep: the orphans it removed are not its own.
    second.host_before = common::host_container_count();
    assert_ne!(second.instance, first.instance);
    assert!(
        common::instance_containers(&first.instance).is_empty(),
        "left by the dead server: {orphans:?}"
    );
    assert!(!private_dirs[0].exists(), "and its private directory");
    second.stop_and_check_clean();
    drop(first);
}

/// The private directories (podman's configuration, the runner's copy)
/// whose owner file names server `pid`.
fn private_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join("owner"))
                .is_ok_and(|line| line.split_whitespace().next() == Some(&pid.to_string()))
        })
        .collect()
}

/// A service whose containers run the misbehaving runner; each run's
/// "source" tells it how to misbehave.
fn misbehaving_service(extra: &[&str]) -> Service {
    let runner = common::runner().with_file_name("misbehaving-runner");
    assert!(
        runner.is_file(),
        "no {} (./task test builds it)",
        runner.display()
    );
    let mut args = vec!["--runner", runner.to_str().unwrap(), "--pool-size", "0"];
    args.extend_from_slice(extra);
    Service::start(&args)
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_breaks_the_protocol_after_start_gives_a_200_with_what_was_captured() {
    let _podman = common::podman_test();
    let svc = misbehaving_service(&[]);
    let body = svc.run_ok(3, "garbage", json!({})).await;
    assert_eq!(body["stdout"], "captured before\n", "{body}");
    let why = body["channel_error"].as_str().unwrap_or_default();
    assert!(why.contains("malformed"), "{body}");
    assert_eq!(body["signal"], "SIGKILL", "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_tiny_frames_is_cut_off_by_the_byte_budget() {
    let _podman = common::podman_test();
    let svc = misbehaving_service(&["--output-limit", "65536", "--timeout", "30"]);
    let started = Instant::now();
    let body = svc.run_ok(3, "empty", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut off, not timed out"
    );
    assert_eq!(body["timeout"], false, "{body}");
    assert_eq!(body["stdout"], "captured before\n", "{body}");
    let why = body["channel_error"].as_str().unwrap_or_default();
    assert!(why.contains("frames"), "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_on_the_containers_own_stderr_is_cut_off_by_the_byte_budget() {
    let _podman = common::podman_test();
    let svc = misbehaving_service(&["--output-limit", "65536", "--timeout", "30"]);
    let started = Instant::now();
    let body = svc.run_ok(3, "stderr", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut off, not timed out"
    );
    let why = body["channel_error"].as_str().unwrap_or_default();
    assert!(why.contains("bytes"), "{body}");
    svc.stop_and_check_clean();
}
