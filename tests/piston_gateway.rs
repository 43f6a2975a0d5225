//! Piston's API on real podman, behind nginx configured by the deployment
//! example (`deploy/nginx-whipcode.conf`), which adds the master key: the
//! npm `piston-client`, unmodified, runs Python, C (a compile stage) and a
//! two-file program; and hostile requests and programs get Piston's
//! statuses (`OL`, `EL`, `TO`, `SG`, `RE`) or whipcode's refusals.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use common::gateway::{behind_nginx, gateway_test, Gateway};
use serde_json::{json, Value};

/// Through the gateway, without a key: nginx adds it.
async fn execute(gateway: &Gateway, body: Value) -> (u16, Value) {
    common::post_json(&format!("{}/api/v2/execute", gateway.url), None, &body).await
}

fn python(code: &str, extra: Value) -> Value {
    let mut body = json!({"language": "python", "version": "3.x", "files": [{"content": code}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_npm_piston_client_runs_python_c_and_two_files_through_nginx() {
    let _podman = gateway_test();
    let (svc, gateway) = behind_nginx(&[]);
    let calls = json!([
        {"args": ["python", "import sys\nprint('args', sys.argv[1:])\nprint('read', input())",
                  {"stdin": "typed"}]},
        {"args": ["c", "#include <stdio.h>\nint main(int argc, char **argv) {\n  printf(\"%d %s\\n\", argc, argv[3]);\n  return 0;\n}\n"]},
        {"args": ["c", "int main(void) { return undeclared; }"]},
        {"args": ["python", {"files": [
            {"name": "main.py", "content": "from helper import greet\nprint(greet())"},
            {"name": "helper.py", "content": "def greet():\n    return 'two files'\n"}
        ]}]},
    ]);
    let answer = gateway.piston_client(&calls);
    let runtimes = answer["runtimes"].as_array().expect("the runtimes list");
    let python = runtimes
        .iter()
        .find(|r| r["language"] == "python")
        .expect("python");
    assert!(
        semver::Version::parse(python["version"].as_str().unwrap()).is_ok(),
        "{python}"
    );
    assert!(
        runtimes.iter().any(|r| r["language"] == "c"),
        "{runtimes:?}"
    );
    let results = answer["results"].as_array().unwrap();

    // Python: the client's default args reach the program; stdin as sent.
    let run = &results[0]["run"];
    assert_eq!(results[0]["language"], "python", "{}", results[0]);
    assert_eq!(
        run["stdout"], "args ['1', '2', '3']\nread typed\n",
        "{}",
        results[0]
    );
    assert_eq!(run["code"], 0);
    assert_eq!(run["status"], Value::Null);
    assert!(results[0].get("compile").is_none(), "{}", results[0]);

    // C: a compile stage, then the run with the arguments.
    let c = &results[1];
    assert_eq!(c["compile"]["code"], 0, "{c}");
    assert_eq!(c["run"]["stdout"], "4 3\n", "{c}");
    assert!(c["run"]["wall_time"].as_u64().unwrap() < 3000, "{c}");
    assert!(c["compile"]["memory"].as_u64().unwrap() > 1 << 20, "{c}");

    // A compile error: its output in compile, and run a copy of it.
    let failed = &results[2];
    assert_ne!(failed["compile"]["code"], 0, "{failed}");
    assert_eq!(failed["compile"]["status"], "RE", "{failed}");
    assert!(
        failed["compile"]["stderr"]
            .as_str()
            .unwrap()
            .contains("undeclared"),
        "{failed}"
    );
    assert_eq!(failed["run"], failed["compile"]);

    // Two files: the first is the one run, the other beside it.
    assert_eq!(results[3]["run"]["stdout"], "two files\n", "{}", results[3]);

    // Only the gateway reaches the service: from another address, a 403.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let direct = elsewhere
        .get(format!("{}/api/v2/runtimes", svc.url))
        .header("X-Master-Key", common::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status().as_u16(), 403);
    drop(gateway);
    svc.stop_and_check_clean();
}

/// AWK, one of the languages Piston's index has that came from Debian: the
/// client's default arguments reach the program, then it reads stdin.
const AWK: &str = r#"BEGIN {
    for (i = 1; i < ARGC; i++)
        printf "%s%s", ARGV[i], (i < ARGC - 1 ? " " : "\n")
    ARGC = 1
}
{ print "read", $0 }
"#;

#[ignore = "needs podman and the test images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_npm_piston_client_runs_awk_with_arguments_and_stdin_through_nginx() {
    let _podman = gateway_test();
    let (svc, gateway) = behind_nginx(&[]);
    let calls = json!([
        {"args": ["awk", AWK, {"stdin": "typed line"}]},
        {"args": ["awk", AWK, {"stdin": "its own arguments", "args": ["x"]}]},
    ]);
    let answer = gateway.piston_client(&calls);
    let runtimes = answer["runtimes"].as_array().expect("the runtimes list");
    let awk = runtimes
        .iter()
        .find(|r| r["language"] == "awk")
        .expect("awk is listed");
    assert_eq!(awk["version"], "5.2.1", "{awk}");
    assert_eq!(awk["aliases"], json!(["gawk"]), "{awk}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["language"], "awk", "{}", results[0]);
    assert_eq!(
        results[0]["run"]["stdout"], "1 2 3\nread typed line\n",
        "{}",
        results[0]
    );
    assert_eq!(results[0]["run"]["code"], 0, "{}", results[0]);
    assert_eq!(
        results[1]["run"]["stdout"], "x\nread its own arguments\n",
        "{}",
        results[1]
    );
    drop(gateway);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_are_refused_and_hostile_programs_get_pistons_statuses() {
    let _podman = gateway_test();
    let (svc, gateway) = behind_nginx(&["--output-limit", "65536", "--max-bytes", "300000"]);

    // Refused at the border, in Piston's shape.
    let (status, body) = execute(
        &gateway,
        python(
            "print(1)",
            json!({"files": [{"content": "print(1)"}, {"name": "../../etc/cron.d/x", "content": "y"}]}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "files[1].name \"../../etc/cron.d/x\" contains a `..` component"
    );
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("f{i}.py"), "content": ""}))
        .collect();
    let (status, body) = execute(
        &gateway,
        json!({"language": "python", "version": "*", "files": many}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("at most 256 files"),
        "{body}"
    );
    // Answered from Content-Length while nginx is still sending the body:
    // the lingering close lets nginx read the answer (a reset made ~1 in 10
    // of these a 502).
    let big = python(&"#".repeat(400_000), json!({}));
    for _ in 0..30 {
        let (status, body) = execute(&gateway, big.clone()).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["message"], "request body is larger than 300000 bytes");
    }

    // A stdout flood: OL, killed, its output capped.
    let (status, body) = execute(
        &gateway,
        python("while True:\n    print('x' * 1000)", json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = &body["run"];
    assert_eq!(run["status"], "OL", "{run}");
    assert_eq!(run["message"], "stdout length exceeded");
    assert_eq!(run["signal"], "SIGKILL");
    assert_eq!(run["code"], Value::Null);
    let kept = run["stdout"].as_str().unwrap().len();
    assert!(kept > 1000 && kept <= 65536, "{kept}");

    // A stderr flood: EL.
    let (status, body) = execute(
        &gateway,
        python(
            "import sys\nwhile True:\n    sys.stderr.write('e' * 1000)",
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["status"], "EL", "{}", body["run"]);
    assert_eq!(body["run"]["message"], "stderr length exceeded");

    // A timeout: TO, what was printed before it kept.
    let (status, body) = execute(
        &gateway,
        python(
            "import time\nprint('before', flush=True)\ntime.sleep(30)",
            json!({"run_timeout": 1000}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = &body["run"];
    assert_eq!(run["status"], "TO", "{run}");
    assert_eq!(run["message"], "Time limit exceeded (wall clock)");
    assert_eq!(run["signal"], "SIGKILL");
    assert_eq!(run["stdout"], "before\n", "output kept");
    let wall = run["wall_time"].as_u64().unwrap();
    assert!((900..4000).contains(&wall), "stopped near 1000 ms: {run}");

    // A signal and an error exit.
    let (_, body) = execute(
        &gateway,
        python(
            "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
            json!({}),
        ),
    )
    .await;
    assert_eq!(body["run"]["status"], "SG", "{body}");
    assert_eq!(body["run"]["signal"], "SIGSEGV");
    assert_eq!(body["run"]["message"], "Caught fatal signal 11");
    let (_, body) = execute(&gateway, python("import sys\nsys.exit(3)", json!({}))).await;
    assert_eq!(body["run"]["status"], "RE", "{body}");
    assert_eq!(body["run"]["code"], 3);
    assert_eq!(body["run"]["message"], "Exited with error status 3");

    // A memory limit in bytes holds: 200 MB written under 32 MiB is killed.
    let (_, body) = execute(
        &gateway,
        python(
            "data = b'x' * (200 << 20)\nprint(len(data))",
            json!({"run_memory_limit": 32 << 20}),
        ),
    )
    .await;
    let run = &body["run"];
    assert_eq!(run["status"], "SG", "{run}");
    assert_eq!(run["signal"], "SIGKILL", "{run}");
    assert_eq!(run["stdout"], "", "{run}");
    assert!(run["memory"].as_u64().unwrap() <= 33 << 20, "{run}");
    drop(gateway);
    svc.stop_and_check_clean();
}
