//! Judge0's three special languages as their clients send them: 89
//! "Multi-file program" (no `source_code`; its `compile` and `run` scripts
//! in `additional_files`), 43 "Plain Text" (the source is the output) and
//! 44 "Executable" (the source is a binary, base64).

#![allow(clippy::await_holding_lock)]

mod common;

use base64::Engine as _;
use common::judge0::{get, post, status_of, zip};
use common::{b64, Service};
use serde_json::{json, Value};

const MULTI_FILE: u32 = 89;
const PLAIN_TEXT: u32 = 43;
const EXECUTABLE: u32 = 44;
const C: u32 = 50;

/// A text field of a `base64_encoded=true` answer, decoded (`None`: null).
fn decoded(answer: &Value, field: &str) -> Option<Vec<u8>> {
    let text: String = answer[field]
        .as_str()?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
    )
}

fn decoded_text(answer: &Value, field: &str) -> String {
    String::from_utf8_lossy(&decoded(answer, field).unwrap_or_default()).into_owned()
}

/// As the PyPI `judge0-client` submits and reads back: `POST
/// /submissions?base64_encoded=true` with its body, then `GET
/// /submissions/{token}?base64_encoded=true` until the verdict.
async fn as_judge0_client(svc: &Service, body: Value) -> Value {
    let (status, answer) = post(svc, "/submissions?base64_encoded=true", body).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    for _ in 0..300 {
        let (status, answer) = get(svc, &format!("/submissions/{token}?base64_encoded=true")).await;
        assert_eq!(status, 200, "{answer}");
        if status_of(&answer) > 2 {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{token} did not finish");
}

/// `MultiFileSubmission(additional_files=…, stdin=…, …).encode_to_base64().to_body()`:
/// the files zipped and base64, stdin and expected output base64, no
/// `source_code` key, `None` fields left out.
fn multi_file_submission(files: &[(&str, &[u8])], extra: Value) -> Value {
    let mut body = json!({"language_id": MULTI_FILE, "additional_files": b64(zip(files))});
    for (key, value) in extra.as_object().unwrap() {
        let value = match key.as_str() {
            "stdin" | "expected_output" => json!(b64(value.as_str().unwrap())),
            _ => value.clone(),
        };
        body.as_object_mut().unwrap().insert(key.clone(), value);
    }
    body
}

const GREET_H: &[u8] = b"void greet(const char *name, int argc, char **argv);\n";
const GREET_C: &[u8] = br#"#include <stdio.h>
#include "greet.h"
void greet(const char *name, int argc, char **argv) {
    printf("Hello, %s!", name);
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n");
}
"#;
const MAIN_C: &[u8] = br#"#include <stdio.h>
#include <string.h>
#include "greet.h"
int main(int argc, char **argv) {
    char name[64] = "";
    if (fgets(name, sizeof name, stdin)) name[strcspn(name, "\n")] = 0;
    greet(name, argc, argv);
    return 0;
}
"#;

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn multi_file_program_runs_its_compile_and_run_scripts() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // A C program of two files, built by its compile script, run by its run
    // script with stdin and the command line arguments.
    let files: &[(&str, &[u8])] = &[
        ("compile", b"gcc -O2 -Wall -o main main.c greet.c\n"),
        ("run", b"./main \"$@\"\n"),
        ("main.c", MAIN_C),
        ("greet.c", GREET_C),
        ("greet.h", GREET_H),
    ];
    let extra = json!({"stdin": "Ada\n", "command_line_arguments": "one 'two words'",
                       "expected_output": "Hello, Ada! [one] [two words]\n"});
    let answer = as_judge0_client(&svc, multi_file_submission(files, extra)).await;
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(
        decoded_text(&answer, "stdout"),
        "Hello, Ada! [one] [two words]\n"
    );
    assert!(
        answer["compile_output"].is_null(),
        "a silent compile: {answer}"
    );

    // No compile script: the run script alone, here Python with a module.
    let files: &[(&str, &[u8])] = &[
        ("run", b"python3 main.py\n"),
        (
            "main.py",
            b"from helper import shout\nprint(shout(input()))\n",
        ),
        ("helper.py", b"def shout(s):\n    return s.upper() + '!'\n"),
    ];
    let answer = as_judge0_client(
        &svc,
        multi_file_submission(files, json!({"stdin": "quiet"})),
    )
    .await;
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(decoded_text(&answer, "stdout"), "QUIET!\n");

    // A compile script that fails: Compilation Error, with its output.
    let files: &[(&str, &[u8])] = &[
        ("compile", b"gcc -o main main.c\n"),
        ("run", b"./main\n"),
        ("main.c", b"int main(void) { return 0 }\n"),
    ];
    let answer = as_judge0_client(&svc, multi_file_submission(files, json!({}))).await;
    assert_eq!(status_of(&answer), 6, "{answer}");
    assert_eq!(answer["status"]["description"], "Compilation Error");
    assert!(
        decoded_text(&answer, "compile_output").contains("error"),
        "{answer}"
    );
    assert!(answer["stdout"].is_null(), "{answer}");

    // No run script: Judge0 accepts it, and `/bin/bash run` fails.
    let files: &[(&str, &[u8])] = &[("README", b"no run script\n")];
    let answer = as_judge0_client(&svc, multi_file_submission(files, json!({}))).await;
    assert_eq!(status_of(&answer), 11, "{answer}");
    let stderr = decoded_text(&answer, "stderr");
    assert!(
        stderr.contains("run: No such file or directory"),
        "{stderr}"
    );

    multi_file_submissions_are_checked_as_judge0_checks_them(&svc).await;
    svc.stop_and_check_clean();
}

/// Judge0's 422s for language 89, and the archive's bounds.
async fn multi_file_submissions_are_checked_as_judge0_checks_them(svc: &Service) {
    let run: &[(&str, &[u8])] = &[("run", b"echo hi\n")];
    let mut with_source = multi_file_submission(run, json!({}));
    with_source["source_code"] = json!("echo hi");
    let (status, answer) = post(svc, "/submissions?wait=true", with_source).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["source_code"], json!(["must be blank"]));
    let (status, answer) = post(
        svc,
        "/submissions?wait=true",
        json!({"language_id": MULTI_FILE}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["additional_files"], json!(["can't be blank"]));
    assert!(answer.get("source_code").is_none(), "{answer}");
    let options = multi_file_submission(run, json!({"compiler_options": "-O2"}));
    let (status, answer) = post(svc, "/submissions?wait=true", options).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["compiler_options"][0],
        "setting compiler options is only allowed for compiled languages"
    );
    // A `run` that is a symbolic link never reaches the sandbox.
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    out.add_symlink(
        "run",
        "/etc/passwd",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    let link = out.finish().unwrap().into_inner();
    let body = json!({"language_id": MULTI_FILE, "additional_files": b64(link)});
    let (status, answer) = post(svc, "/submissions?wait=true", body).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["additional_files"][0]
        .as_str()
        .unwrap()
        .contains("symbolic link"));
}

/// A C program that prints its own executable when its stdin is `dump`,
/// and otherwise greets the name on its stdin with its arguments.
const SELF_DUMPING_C: &str = r#"#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char line[64] = "";
    if (fgets(line, sizeof line, stdin) && strcmp(line, "dump\n") == 0) {
        FILE *self = fopen(argv[0], "rb");
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, self)) > 0) fwrite(buf, 1, n, stdout);
        return 0;
    }
    line[strcspn(line, "\n")] = 0;
    printf("Hello, %s!", line);
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n");
    return 0;
}
"#;

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn plain_text_and_executable() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Plain text: the source, byte for byte (not UTF-8, no final newline).
    let text: &[u8] = b"caf\xc3\xa9\n\n\tindented\r\nraw \xff byte, no newline at the end";
    let body = json!({"language_id": PLAIN_TEXT, "source_code": b64(text)});
    let (status, answer) = post(&svc, "/submissions?wait=true&base64_encoded=true", body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(decoded(&answer, "stdout").unwrap(), text);

    // An executable built here, by the service's own C (the C image's gcc,
    // for the images' architecture and libc): the program prints itself.
    let body =
        json!({"language_id": C, "source_code": b64(SELF_DUMPING_C), "stdin": b64("dump\n")});
    let (status, answer) = post(&svc, "/submissions?wait=true&base64_encoded=true", body).await;
    assert_eq!(status_of(&answer), 3, "{status} {answer}");
    let binary = decoded(&answer, "stdout").unwrap();
    assert!(binary.starts_with(b"\x7fELF"), "{} bytes", binary.len());
    let body = json!({"language_id": EXECUTABLE, "source_code": b64(&binary), "stdin": b64("Ada\n"),
                      "command_line_arguments": "one 'two words'"});
    let (status, answer) = post(&svc, "/submissions?wait=true&base64_encoded=true", body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(
        decoded_text(&answer, "stdout"),
        "Hello, Ada! [one] [two words]\n"
    );

    // Any file the kernel executes, a script too; and no compiler options.
    let script = json!({"language_id": EXECUTABLE, "source_code": "#!/bin/sh\necho \"script $1\"\n",
                        "command_line_arguments": "ran"});
    let (_, answer) = post(&svc, "/submissions?wait=true", script).await;
    assert_eq!(answer["stdout"], "script ran\n", "{answer}");
    let options = json!({"language_id": EXECUTABLE, "source_code": "x", "compiler_options": "-O2"});
    let (status, answer) = post(&svc, "/submissions?wait=true", options).await;
    assert_eq!(status, 422, "{answer}");
    svc.stop_and_check_clean();
}
