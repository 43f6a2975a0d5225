//! The real binary against real podman: what a client of the original sees,
//! and what this version promises beyond it. Every test ends by stopping the
//! server and checking that no container is left on the host.

// Each test has its own runtime on its own thread; the podman lock is meant to
// block the thread, serialising podman tests across the whole binary.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::{b64, Service};
use serde_json::json;

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn python_javascript_bash_and_c_print_hello_world() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let programs = [
        (1, "print('Success!')"),
        (2, "console.log('Success!');"),
        (3, "echo Success!"),
        (
            7,
            "#include <stdio.h>\nint main(void){puts(\"Success!\");return 0;}",
        ),
    ];
    for (lang, code) in programs {
        let body = svc.run_ok(lang, code, json!({})).await;
        assert_eq!(body["stdout"], "Success!\n", "language {lang}: {body}");
        assert_eq!(body["stderr"], "");
        assert_eq!(body["timeout"], false);
        assert_eq!(body["exit_code"], 0);
        assert!(body["container_age"].as_f64().unwrap() > 0.0);
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn stdin_arrives_byte_for_byte() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let echo = "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())";
    let mut big = String::new();
    while big.len() < 200_000 {
        big.push_str("line with \\backslash, \"quotes\", 'single' and \ttabs\n");
    }
    for input in [
        "-n".to_string(),
        "-n leading dash-n\n".to_string(),
        "a\n\n\nb\n\n".to_string(),
        "no newline at the end".to_string(),
        "\\n \\t \\\\ $(id) `id` %s \u{e9}\u{1F600}\r\n".to_string(),
        "\u{10}\u{11}ctrl-p ctrl-q\u{3}".to_string(),
        big,
    ] {
        let body = svc.run_ok(1, echo, json!({"stdin": input})).await;
        let got = body["stdout"].as_str().unwrap();
        assert!(
            got == input,
            "stdin of {} bytes came back as {} bytes",
            input.len(),
            got.len()
        );
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn args_reach_the_compiler_literally_and_shell_syntax_stays_inert() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let code = "#include <stdio.h>\n#define S(x) #x\n#define STR(x) S(x)\n\
                int main(void){puts(STR(MSG));return 0;}";
    let body = svc
        .run_ok(
            7,
            code,
            json!({"args": "-DMSG=$(touch${IFS}/tmp/x);`id`|&&>/tmp/y -Wall"}),
        )
        .await;
    assert_eq!(
        body["stdout"], "$(touch${IFS}/tmp/x);`id`|&&>/tmp/y\n",
        "{body}"
    );
    // The interpreter gets the args as flags: python -B -O sees -O (asserts off).
    let body = svc
        .run_ok(
            1,
            "assert False\nprint('asserts off')",
            json!({"args": "-B -O"}),
        )
        .await;
    assert_eq!(body["stdout"], "asserts off\n", "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn env_reaches_the_program_and_reserved_names_are_refused() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let body = svc
        .run_ok(
            3,
            "printf '%s|%s|%s' \"$GREETING\" \"$EMPTY\" \"$HOME\"",
            json!({"env": {"GREETING": "hello world; $(id)", "EMPTY": ""}}),
        )
        .await;
    assert_eq!(body["stdout"], "hello world; $(id)||/tmp");
    let (status, body) = svc
        .run(json!({"language_id": 3, "code": b64("env"), "env": {"PATH": "/tmp"}}))
        .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("PATH"));
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn stderr_and_exit_codes_are_reported_and_compile_errors_are_200() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let body = svc
        .run_ok(
            1,
            "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(7)",
            json!({}),
        )
        .await;
    assert_eq!(
        (body["stdout"].as_str(), body["stderr"].as_str()),
        (Some("out\n"), Some("err\n"))
    );
    assert_eq!(body["exit_code"], 7);
    let body = svc
        .run_ok(7, "int main(void) { return missing; }", json!({}))
        .await;
    assert_ne!(body["exit_code"], 0);
    assert!(body["exit_code"].is_i64());
    assert!(body["stderr"].as_str().unwrap().contains("error"), "{body}");
    let body = svc.run_ok(3, "kill -SEGV $$", json!({})).await;
    assert_eq!(body["signal"], "SIGSEGV", "{body}");
    assert_eq!(body["exit_code"], serde_json::Value::Null);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn timeouts_stop_the_program_and_are_capped_by_the_server() {
    let _podman = common::podman_test();
    let svc = Service::start(&["-t", "3"]);
    let started = Instant::now();
    let body = svc
        .run_ok(
            3,
            "echo before; sleep 60; echo after",
            json!({"timeout": 1}),
        )
        .await;
    let short = started.elapsed();
    assert_eq!(body["timeout"], true);
    assert_eq!(body["exit_code"], serde_json::Value::Null);
    assert_eq!(
        body["stdout"], "before\n",
        "output up to the deadline is kept"
    );
    assert!(short < Duration::from_secs(15), "took {short:?}");

    let started = Instant::now();
    let body = svc.run_ok(3, "sleep 60", json!({"timeout": "100"})).await;
    let capped = started.elapsed();
    assert_eq!(body["timeout"], true);
    assert!(
        capped >= Duration::from_secs(3),
        "ran {capped:?}, less than the server's 3 s"
    );
    assert!(
        capped < Duration::from_secs(20),
        "ran {capped:?}: the cap did not apply"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_runs_all_complete() {
    let _podman = common::podman_test();
    let svc = std::sync::Arc::new(Service::start(&[]));
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let svc = std::sync::Arc::clone(&svc);
            tokio::spawn(async move { svc.run_ok(1, &format!("print({i} * 2)"), json!({})).await })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let body = run.await.unwrap();
        assert_eq!(body["stdout"], format!("{}\n", i * 2));
    }
    std::sync::Arc::into_inner(svc)
        .unwrap()
        .stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_leaves_no_container() {
    let _podman = common::podman_test();
    // No warm containers: every container of this instance is the run's.
    let svc = Service::start(&["--pool-size", "0"]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let result = client
        .post(format!("{}/run", svc.url))
        .header("X-Master-Key", common::KEY)
        .json(&json!({"language_id": 3, "code": b64("sleep 60")}))
        .send()
        .await;
    assert!(result.is_err(), "the request should have been cut off");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !common::instance_containers(&svc.instance).is_empty() {
        assert!(Instant::now() < deadline, "container outlived its client");
        std::thread::sleep(Duration::from_millis(200));
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn each_run_gets_a_fresh_container() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let probe = "ls /tmp/marker 2>/dev/null || echo absent; touch /tmp/marker; id -u; \
                 grep -o -E 'libpod-[0-9a-f]+|whipcode-[0-9a-z-]+' /proc/self/cgroup | head -n 1";
    let first = svc.run_ok(3, probe, json!({})).await;
    let second = svc.run_ok(3, probe, json!({})).await;
    for body in [&first, &second] {
        let out = body["stdout"].as_str().unwrap();
        assert!(
            out.starts_with("absent\n"),
            "a file from an earlier run is visible: {out}"
        );
        assert!(out.contains("\n65534\n"), "not running as nobody: {out}");
    }
    let id = |b: &serde_json::Value| {
        b["stdout"]
            .as_str()
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    };
    // The container's own cgroup: podman's libpod-<id>, or crun's /whipcode/<instance>/<name>.
    assert!(
        id(&first).starts_with("libpod-") || id(&first).starts_with("whipcode-"),
        "{first}"
    );
    assert_ne!(id(&first), id(&second), "two runs shared a container");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn on_crun_a_run_in_flight_outlives_podmans_service_and_the_service_comes_back() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--pool-size", "1"]);
    assert!(svc.wait_for_log("engine=\"crun\"", Duration::from_secs(10)));
    svc.run_ok(1, "print('before')", json!({})).await;
    let (in_flight, _) = kill_podmans_service_during_a_run(&svc, 3).await;
    // crun's containers are this server's children: podman's service (which
    // keeps the images) is not on their path.
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stdout"], "started\ndone\n", "{body}");
    let body = svc.run_ok(1, "print('after')", json!({})).await;
    assert_eq!(body["stdout"], "after\n", "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while common::podman_service_of(svc.pid()).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "podman's service was not started again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svc.stop_and_check_clean();
}

/// Starts a Python run that prints "started", sleeps `seconds` and prints
/// "done"; kills podman's REST service 1.5 s in. The run's answer to come,
/// and the service's pid.
async fn kill_podmans_service_during_a_run(
    svc: &Service,
    seconds: u32,
) -> (tokio::task::JoinHandle<(u16, serde_json::Value)>, u32) {
    let url = svc.url.clone();
    let code =
        format!("import time\nprint('started', flush=True)\ntime.sleep({seconds})\nprint('done')");
    let in_flight = tokio::spawn(async move {
        common::run_at(&url, json!({"language_id": 1, "code": common::b64(code)})).await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let service = common::podman_service_of(svc.pid()).expect("podman's service runs");
    std::process::Command::new("kill")
        .args(["-KILL", &service.to_string()])
        .status()
        .unwrap();
    assert!(common::wait_gone(service, Duration::from_secs(10)));
    (in_flight, service)
}

/// Runs one Python program in a fresh service and gives its stdout.
async fn python_stdout(code: &str) -> String {
    let svc = Service::start(&[]);
    let body = svc.run_ok(1, code, json!({})).await;
    svc.stop_and_check_clean();
    body["stdout"].as_str().unwrap().to_owned()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn network_connections_are_disabled_and_only_loopback_exists() {
    let _podman = common::podman_test();
    let out = python_stdout(
        "import socket\n\
         print([l.split(':')[0].strip() for l in open('/proc/self/net/dev').readlines()[2:]])\n\
         try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2); print('connected')\n\
         except OSError as e: print('no network')",
    )
    .await;
    assert!(
        out.starts_with("['lo']\n"),
        "interfaces other than lo: {out}"
    );
    assert!(
        out.contains("no network") && !out.contains("connected"),
        "{out}"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_root_filesystem_is_read_only() {
    let _podman = common::podman_test();
    let out = python_stdout(
        "try:\n    open('/etc/owned', 'w'); print('root writable')\n\
         except OSError: print('read-only root')",
    )
    .await;
    assert_eq!(out, "read-only root\n");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_program_has_no_capabilities() {
    let _podman = common::podman_test();
    // The runner holds a few (root of the run's user namespace); the step
    // it starts holds none, cannot regain one (bounding set empty, no new
    // privileges) and is nobody.
    let out = python_stdout(
        "import os\nstatus = open('/proc/self/status').read()\n\
         print(*[l.split()[1] for l in status.splitlines() if l.startswith(('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs'))])\n\
         print(os.getresuid(), os.getresgid(), os.getgroups())",
    )
    .await;
    assert_eq!(
        out,
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000 1\n\
         (65534, 65534, 65534) (65534, 65534, 65534) []\n",
        "capabilities left (effective, permitted, bounding, ambient), no_new_privs, ids"
    );
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_sys_is_masked() {
    let _podman = common::podman_test();
    let out = python_stdout("import os\nprint(len(os.listdir('/sys')))").await;
    assert_eq!(out, "0\n", "/sys is not masked");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn with_userns_auto_a_run_is_not_the_hosts_uid_65534() {
    let _podman = common::podman_test();
    let code =
        "print(open('/proc/self/uid_map').read().split()[:3])\nimport os\nprint(os.getuid())";
    let svc = Service::start(&["--userns", "auto"]);
    let body = svc.run_ok(1, code, json!({})).await;
    let out = body["stdout"].as_str().unwrap();
    let first_line = out.lines().next().unwrap();
    assert!(
        !first_line.starts_with("['0', '0',"),
        "uid 0 inside is uid 0 outside: {out}"
    );
    assert!(out.ends_with("65534\n"), "{out}");
    svc.stop_and_check_clean();

    let svc = Service::start(&["--userns", "host"]);
    let body = svc.run_ok(1, code, json!({})).await;
    assert!(
        body["stdout"]
            .as_str()
            .unwrap()
            .starts_with("['0', '0', '4294967295']"),
        "{body}"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_warm_container_started_ahead_serves_the_next_run_and_only_that_run() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--pool-size", "1"]);
    svc.run_ok(1, "print('first')", json!({})).await;
    // The pool now starts one python container ahead of time.
    let deadline = Instant::now() + Duration::from_secs(30);
    let warm = loop {
        let names = common::instance_containers(&svc.instance);
        if names.len() == 1 {
            break names[0].clone();
        }
        assert!(Instant::now() < deadline, "no warm container: {names:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let body = svc.run_ok(1, "print('second')", json!({})).await;
    assert_eq!(body["stdout"], "second\n");
    // The request's log line reaches the harness through a pipe: wait for it.
    svc.wait_for_log(&format!("container={warm}"), Duration::from_secs(10));
    let logs = svc.log_text();
    let served_by = |name: &str| {
        logs.lines()
            .filter(|l| l.contains(&format!("container={name}")))
            .count()
    };
    assert_eq!(
        served_by(&warm),
        1,
        "the warm container served the second run: {logs}"
    );
    svc.run_ok(1, "print('third')", json!({})).await;
    assert_eq!(served_by(&warm), 1, "and no other run");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn when_podmans_service_dies_it_is_started_again_and_runs_go_on() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--pool-size", "1", "--engine", "podman"]);
    svc.run_ok(1, "print('before')", json!({})).await;
    let (in_flight, first) = kill_podmans_service_during_a_run(&svc, 4).await;
    // The run in flight lost its stream with the service: an error, not a
    // made-up answer with half the output.
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    // The warm container's stream broke with the service: the run goes to a
    // fresh container once the service is back.
    let body = svc.run_ok(1, "print('after')", json!({})).await;
    assert_eq!(body["stdout"], "after\n", "{body}");
    let second = common::podman_service_of(svc.pid()).expect("podman's service runs again");
    assert_ne!(first, second);
    assert!(
        svc.log_text().contains("podman's REST API service died"),
        "{}",
        svc.log_text()
    );
    svc.stop_and_check_clean();
}
