//! Judge0's API under `/judge0`, on real podman: verdicts through
//! `wait=true` (Accepted, Wrong Answer, time limits, compile errors, the
//! runtime errors by signal, a memory-limit kill), several runs after one
//! compile with none leaving work for the next, base64 both ways, `fields`,
//! Judge0's refusals, `additional_files` (and a zip bomb and `../`), and
//! the read-only endpoints read by Judge0's official Python SDK.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use base64::Engine as _;
use common::judge0::{status_of, zip};
use common::{b64, Service, KEY};
use serde_json::{json, Value};

const PYTHON: u32 = 71;
const C: u32 = 50;

fn unb64(text: &Value) -> Vec<u8> {
    let text: String = text
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// POSTs a submission with `query`, Judge0's header carrying the key.
async fn submit(svc: &Service, query: &str, body: Value) -> (u16, Value) {
    common::judge0::post(svc, &format!("/submissions?{query}"), body).await
}

/// A submission with `wait=true` and every field; expects a 201.
async fn judged(svc: &Service, body: Value) -> Value {
    let (status, answer) = submit(svc, "wait=true&fields=*", body).await;
    assert_eq!(status, 201, "{answer}");
    answer
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn verdicts_are_picked_as_judge0_picks_them() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let cases: Vec<(&str, Value, u64)> = vec![
        (
            "accepted",
            json!({"language_id": PYTHON, "source_code": "print(input())", "stdin": "hi\n", "expected_output": "hi"}),
            3,
        ),
        // Trailing whitespace of each line and of the end does not count.
        (
            "accepted, trailing whitespace",
            json!({"language_id": PYTHON, "source_code": "print('1 2 \\n3\\t\\n\\n')", "expected_output": "1 2\n3"}),
            3,
        ),
        (
            "wrong answer, leading space",
            json!({"language_id": PYTHON, "source_code": "print(' 1')", "expected_output": "1"}),
            4,
        ),
        (
            "wrong answer, an inner blank line",
            json!({"language_id": PYTHON, "source_code": "print('1\\n\\n2')", "expected_output": "1\n2"}),
            4,
        ),
        (
            "time limit, wall clock",
            json!({"language_id": PYTHON, "source_code": "import time\ntime.sleep(10)", "wall_time_limit": 1}),
            5,
        ),
        (
            "time limit, CPU",
            json!({"language_id": PYTHON, "source_code": "while True: pass", "cpu_time_limit": 1, "cpu_extra_time": 0.5}),
            5,
        ),
        (
            "compilation error",
            json!({"language_id": C, "source_code": "int main() { syntax error }"}),
            6,
        ),
        (
            "SIGSEGV",
            json!({"language_id": C, "source_code": "int main(void) { volatile int *p = 0; return *p; }"}),
            7,
        ),
        (
            "SIGXFSZ",
            json!({"language_id": C, "source_code": "#include <stdio.h>\nint main(void) { FILE *f = fopen(\"big\", \"w\"); for (int i = 0; i < 100000; i++) fputs(\"0123456789\", f); fclose(f); return 0; }", "max_file_size": 16}),
            8,
        ),
        (
            "SIGFPE",
            json!({"language_id": C, "source_code": "int main(void) { volatile int ten = 10, zero = 0; return ten / zero; }"}),
            9,
        ),
        (
            "SIGABRT",
            json!({"language_id": C, "source_code": "#include <stdlib.h>\nint main(void) { abort(); }"}),
            10,
        ),
        (
            "NZEC",
            json!({"language_id": PYTHON, "source_code": "import sys\nsys.exit(3)"}),
            11,
        ),
        (
            "memory limit",
            json!({"language_id": C, "source_code": "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (int i = 0; i < 64; i++) { char *p = malloc(8 << 20); if (!p) return 2; memset(p, 1, 8 << 20); } return 0; }", "memory_limit": 65536}),
            12,
        ),
    ];
    for (name, body, expected) in cases {
        let answer = judged(&svc, body).await;
        assert_eq!(status_of(&answer), expected, "{name}: {answer}");
        match expected {
            3 | 4 => assert!(
                answer["time"]
                    .as_str()
                    .is_some_and(|t| t.parse::<f64>().is_ok()),
                "{name}: {answer}"
            ),
            5 if name.contains("CPU") => {
                let time: f64 = answer["time"].as_str().unwrap().parse().unwrap();
                assert!(time >= 1.0, "{name}: counted {time} s: {answer}");
            }
            6 => {
                let output = answer["compile_output"].as_str().unwrap_or_default();
                assert!(output.contains("error"), "{name}: {answer}");
                assert_eq!(answer["stdout"], Value::Null, "{name}");
            }
            11 => {
                assert_eq!(answer["exit_code"], 3, "{name}: {answer}");
                assert_eq!(answer["message"], "Exited with error status 3");
            }
            12 => assert!(
                answer["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Memory limit exceeded"),
                "{name}: {answer}"
            ),
            _ => {}
        }
        assert!(
            answer["memory"].is_u64() || expected == 6,
            "{name}: memory in KB: {answer}"
        );
        assert!(answer["created_at"].as_str().unwrap().ends_with('Z'));
    }

    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn several_runs_follow_one_compile_and_none_leaves_work_for_the_next() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Each run looks for what an earlier one left (a file, and a process
    // that would write one later), then leaves both.
    let program = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
    int found = access("left", F_OK) == 0, late = access("late", F_OK) == 0;
    printf("left=%d late=%d compiled=%d\n", found, late, access("a.out", F_OK) == 0);
    fclose(fopen("left", "w"));
    if (fork() == 0) { setsid(); sleep(1); fclose(fopen("late", "w")); _exit(0); }
    return 0;
}
"#;
    let answer = judged(
        &svc,
        json!({"language_id": C, "source_code": program, "number_of_runs": 3, "expected_output": "left=0 late=0 compiled=1"}),
    )
    .await;
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(answer["stdout"], "left=0 late=0 compiled=1\n");
    assert_eq!(answer["number_of_runs"], 3);

    // A run that fails ends the runs: the verdict is its own.
    let flaky = "import os\nif os.path.exists('seen'): raise SystemExit(5)\nopen('seen', 'w').close()\nprint('first')";
    let answer = judged(
        &svc,
        json!({"language_id": PYTHON, "source_code": flaky, "number_of_runs": 2}),
    )
    .await;
    assert_eq!(
        status_of(&answer),
        3,
        "the second run starts afresh: {answer}"
    );

    // stdin reaches every run; stderr joins stdout when asked.
    let answer = judged(
        &svc,
        json!({"language_id": PYTHON, "source_code": "import sys\nprint(input(), flush=True)\nprint('err', file=sys.stderr)", "stdin": "each\n", "number_of_runs": 2, "redirect_stderr_to_stdout": true}),
    )
    .await;
    assert_eq!(answer["stdout"], "each\nerr\n", "{answer}");
    assert_eq!(answer["stderr"], Value::Null);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn base64_fields_and_arguments_are_judge0s() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // base64 in and out; output that is not UTF-8.
    let program =
        "import sys\nsys.stdout.buffer.write(bytes([0xff, 0x00]) + sys.stdin.buffer.read())";
    let body = json!({"language_id": PYTHON, "source_code": b64(program.as_bytes()), "stdin": b64(b"\xfe\n")});
    let (status, answer) = submit(&svc, "base64_encoded=true&wait=true", body.clone()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(unb64(&answer["stdout"]), b"\xff\x00\xfe\n");
    assert!(
        answer["stdout"].as_str().unwrap().ends_with('\n'),
        "Ruby's encode64: {answer}"
    );
    let keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut default = vec![
        "compile_output",
        "memory",
        "message",
        "status",
        "stderr",
        "stdout",
        "time",
        "token",
    ];
    default.sort();
    assert_eq!(keys, default, "the default fields");
    // The same output without base64 cannot be shown: Judge0's 400.
    let text_body = json!({"language_id": PYTHON, "source_code": program, "stdin": "x"});
    let (status, answer) = submit(&svc, "wait=true", text_body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("use base64_encoded=true"),
        "{answer}"
    );

    // fields: a list, and an unknown name.
    let (status, answer) = submit(
        &svc,
        "wait=true&fields=stdout,status_id,language",
        json!({"language_id": PYTHON, "source_code": "print(1)"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        answer,
        json!({"stdout": "1\n", "status_id": 3, "language": answer["language"].clone()})
    );
    assert_eq!(answer["language"]["id"], PYTHON);
    let (status, answer) = submit(
        &svc,
        "wait=true&fields=stdout,bogus",
        json!({"language_id": PYTHON, "source_code": "print(1)"}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (400, json!({"error": "invalid fields: [bogus]"}))
    );

    // command_line_arguments are split as a shell would, never run by one;
    // compiler_options reach the compiler.
    let answer = judged(
        &svc,
        json!({"language_id": C, "source_code": "#include <stdio.h>\nint main(int c, char **v) { for (int i = 1; i < c; i++) printf(\"[%s]\", v[i]); printf(\"%d\\n\", X); }",
               "command_line_arguments": "one 'two words' \"$(id)\" ;", "compiler_options": "-DX=42"}),
    )
    .await;
    assert_eq!(
        answer["stdout"], "[one][two words][$(id)][;]42\n",
        "{answer}"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn refusals_come_in_judge0s_shape_and_files_stay_inside() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let url = format!("{}/judge0/submissions?wait=true", svc.url);
    let hello = json!({"language_id": PYTHON, "source_code": "print(1)"});
    // No key, a wrong one: 401. X-Master-Key works as well as X-Auth-Token.
    let (status, _) = common::post_json(&url, None, &hello).await;
    assert_eq!(status, 401);
    let response = Service::client()
        .post(&url)
        .header("X-Auth-Token", "wrong")
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = common::post_json(&url, Some(KEY), &hello).await;
    assert_eq!(status, 201);

    // Field errors, all at once, in Judge0's words.
    let (status, answer) = submit(
        &svc,
        "wait=true",
        json!({"language_id": 999, "cpu_time_limit": 100, "wall_time_limit": 0.5, "memory_limit": 4096,
               "number_of_runs": 0, "enable_network": true}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["language_id"],
        json!(["language with id 999 doesn't exist"])
    );
    assert_eq!(answer["source_code"], json!(["can't be blank"]));
    assert!(answer["cpu_time_limit"][0]
        .as_str()
        .unwrap()
        .starts_with("must be less than or equal to"));
    assert_eq!(
        answer["wall_time_limit"],
        json!(["must be greater than or equal to 1"])
    );
    assert!(
        answer["memory_limit"][0]
            .as_str()
            .unwrap()
            .contains("the sandbox's floor"),
        "{answer}"
    );
    assert_eq!(answer["number_of_runs"], json!(["must be greater than 0"]));
    assert_eq!(
        answer["enable_network"],
        json!(["enabling network is not allowed"])
    );
    let (status, answer) = submit(
        &svc,
        "wait=true",
        json!({"language_id": PYTHON, "source_code": "x", "compiler_options": "-O2"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["compiler_options"],
        json!(["setting compiler options is only allowed for compiled languages"])
    );

    // additional_files: unpacked beside the source, within bounds.
    let files = zip(&[
        ("data/input.txt", b"from the archive\n"),
        ("helper.py", b"WORD = 'imported'\n"),
    ]);
    let answer = judged(
        &svc,
        json!({"language_id": PYTHON, "source_code": "import helper\nprint(open('data/input.txt').read().strip(), helper.WORD)",
               "additional_files": b64(&files)}),
    )
    .await;
    assert_eq!(answer["stdout"], "from the archive imported\n", "{answer}");
    for (what, archive, needle) in [
        ("a ../ path", zip(&[("../escape.txt", b"x")]), "`..`"),
        (
            "an absolute path",
            zip(&[("/etc/cron.d/x", b"x")]),
            "absolute",
        ),
        (
            "a zip bomb",
            zip(&[("zeros", &vec![0u8; 12 << 20])]),
            "times",
        ),
    ] {
        let (status, answer) = submit(
            &svc,
            "wait=true",
            json!({"language_id": PYTHON, "source_code": "print(1)", "additional_files": b64(&archive)}),
        )
        .await;
        assert_eq!(status, 422, "{what}: {answer}");
        let message = answer["additional_files"][0].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {answer}");
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn judge0s_official_sdk_reads_every_endpoint_with_its_own_models() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let base = format!("{}/judge0", svc.url);
    let printed = common::judge0::sdk("check_models.py", &base).await;
    assert!(printed.contains("the SDK reads every answer"), "{printed}");

    // The listings as Judge0 writes them.
    let statuses = common::get_json(&format!("{base}/statuses"), KEY).await;
    assert_eq!(
        statuses[13],
        json!({"id": 14, "description": "Exec Format Error"})
    );
    let languages = common::get_json(&format!("{base}/languages"), KEY).await;
    let names: Vec<&str> = languages
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
    assert!(
        names.iter().any(|n| n.starts_with("Python (3.")),
        "{languages}"
    );
    let config = common::get_json(&format!("{base}/config_info"), KEY).await;
    assert_eq!(config.as_object().unwrap().len(), 39, "{config}");
    assert_eq!(config["enable_network"], false);
    let about = common::get_json(&format!("{base}/about"), KEY).await;
    assert_eq!(about["version"], "1.13.1");
    // whipcode's own listing is still its own.
    let own = common::get_json(&format!("{}/languages", svc.url), KEY).await;
    assert!(own["languages"].is_array(), "{own}");
    svc.stop_and_check_clean();
}
