//! Each API's border against a real service and real podman: file names
//! that cannot be written side by side are refused in the API's own shape,
//! naming the file; a step that cannot start is an answer (126 or 127, the
//! reason on stderr, as a shell says it), never a 500; a stage's memory
//! limit holds with files in /tmp; Judge0's archives are unpacked only for
//! work the service can take, within one budget per request.

// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use common::judge0::{post, status_of, zip};
use common::{b64, Service, KEY};
use serde_json::{json, Value};

/// whipcode's ids: Python, C. Judge0's: Python 3, C (GCC).
const PYTHON: u32 = 1;
const C: u32 = 7;
const J_PYTHON: u32 = 71;
const J_C: u32 = 50;
const ACCEPTED: u64 = 3;
const RUNTIME_ERROR: u64 = 11;

fn file(name: &str) -> Value {
    json!({"name": name, "content": b64("x")})
}

/// A zip of one file `data.bin` of `len` bytes that deflates by 150 to 195
/// to 1: under Judge0's largest ratio (200), so that sizes alone decide what
/// is unpacked, and small enough that twenty fit in one request.
fn archive_of(len: usize) -> Vec<u8> {
    let ratio = |archive: &[u8]| len / archive.len();
    let archive = (100..=700)
        .rev()
        .step_by(25)
        .map(|gap| zip(&[("data.bin", &sparse(len, gap))]))
        .find(|archive| ratio(archive) <= 195)
        .unwrap();
    assert!(ratio(&archive) >= 150, "ratio {}", ratio(&archive));
    archive
}

/// Zeros with a pseudo-random byte every `gap`.
fn sparse(len: usize, gap: usize) -> Vec<u8> {
    let mut x = 7u32;
    (0..len)
        .map(|i| {
            if i % gap == 0 {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8 | 1
            } else {
                0
            }
        })
        .collect()
}

/// POSTs to Piston's `execute` with the key.
async fn execute(svc: &Service, body: Value) -> (u16, Value) {
    common::post_json(&format!("{}/api/v2/execute", svc.url), Some(KEY), &body).await
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn conflicting_file_names_are_refused_in_each_api() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let long = "x".repeat(300);
    let under_entry = "source.py/x";
    // whipcode: 400 {"detail"}, naming the file and why.
    for (files, named, why) in [
        (vec!["a", "a/b"], "files[1].name \"a/b\"", "is under \"a\""),
        (
            vec!["a/b", "a"],
            "files[1].name \"a\"",
            "is a directory of \"a/b\"",
        ),
        (vec!["./x", "x"], "files[1].name \"x\"", "already given"),
        (
            vec![long.as_str()],
            "files[0].name",
            "longer than 255 bytes",
        ),
        (
            vec![under_entry],
            "files[0].name \"source.py/x\"",
            "is under \"source.py\"",
        ),
    ] {
        let files: Vec<Value> = files.iter().map(|n| file(n)).collect();
        let (status, body) = svc
            .run(json!({"language_id": PYTHON, "code": b64("print(1)"), "files": files}))
            .await;
        assert_eq!(status, 400, "{named}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(named) && detail.contains(why), "{detail}");
    }
    // Names that share a directory are fine, and arrive.
    let (status, body) = svc
        .run(
            json!({"language_id": PYTHON, "files": [file("a/b"), file("a/c")],
            "code": b64("import os\nprint(sorted(os.listdir('a')))")}),
        )
        .await;
    assert_eq!(
        (status, &body["stdout"]),
        (200, &json!("['b', 'c']\n")),
        "{body}"
    );

    // Piston: 400 {"message"}.
    let (status, body) = execute(
        &svc,
        json!({"language": "python", "version": "*", "files": [
            {"content": "print(1)"}, {"name": "d", "content": "x"}, {"name": "d/e", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("files[2].name \"d/e\" is under \"d\""),
        "{message}"
    );

    // Judge0: 422 {"additional_files": [...]}.
    for (entries, why) in [
        (vec!["./x", "x"], "\"x\" names a file already given"),
        (vec!["a", "a/b"], "\"a/b\" is under \"a\""),
        (vec![under_entry], "\"source.py/x\" is under \"source.py\""),
    ] {
        let archive: Vec<(&str, &[u8])> = entries.iter().map(|n| (*n, &b"x"[..])).collect();
        let (status, body) = post(
            &svc,
            "/submissions?wait=true",
            json!({"language_id": J_PYTHON, "source_code": "print(1)",
                "additional_files": b64(zip(&archive))}),
        )
        .await;
        assert_eq!(status, 422, "{entries:?}: {body}");
        let said = body["additional_files"][0].as_str().unwrap_or_default();
        assert!(said.contains(why), "{entries:?}: {body}");
    }
    svc.stop_and_check_clean();
}

/// Piston has no compiler flags, so it cannot ask for a step that has
/// nothing to start; its answers come from the same runner outcome.
#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_step_that_cannot_start_is_exit_127_in_each_api() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let code = "int main(void) { return 0; }";
    // No a.out at all: 127; an a.out that is not a program: 126.
    for (flag, exit, reason) in [
        (
            "-fsyntax-only",
            127,
            "/tmp/a.out: No such file or directory\n",
        ),
        ("-c", 126, "/tmp/a.out: Permission denied\n"),
        ("-E", 126, "/tmp/a.out: Permission denied\n"),
        ("-S", 126, "/tmp/a.out: Permission denied\n"),
    ] {
        let out = svc.run_ok(C, code, json!({"args": flag})).await;
        assert_eq!(out["compile"]["exit_code"], 0, "{flag}: {out}");
        assert_eq!(
            (&out["exit_code"], &out["stderr"]),
            (&json!(exit), &json!(reason)),
            "{flag}: {out}"
        );
    }
    // An a.out whose interpreter is not a program (execve: ELIBBAD).
    let out = svc
        .run_ok(
            C,
            code,
            json!({"args": "-Wl,--dynamic-linker=/tmp/source.c"}),
        )
        .await;
    assert_eq!(out["exit_code"], 126, "{out}");
    let said = out["stderr"].as_str().unwrap_or_default();
    assert!(said.starts_with("/tmp/a.out: "), "{out}");
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": J_C, "source_code": code, "compiler_options": "-fsyntax-only"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(status_of(&answer), RUNTIME_ERROR, "{answer}");
    assert_eq!(answer["exit_code"], 127, "{answer}");
    assert_eq!(answer["stderr"], "/tmp/a.out: No such file or directory\n");
    // The service is as it was.
    let again = svc.run_ok(PYTHON, "print('next')", json!({})).await;
    assert_eq!(again["stdout"], "next\n");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_memory_limit_holds_with_files_in_tmp() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let archive = archive_of(15 << 20);
    let program = "b = bytearray(150 << 20)\nprint('allocated', len(b))";
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": J_PYTHON, "source_code": program, "memory_limit": 20480,
            "additional_files": b64(&archive)}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_ne!(status_of(&answer), ACCEPTED, "{answer}");
    assert!(
        !answer["stdout"]
            .as_str()
            .unwrap_or_default()
            .contains("allocated"),
        "{answer}"
    );
    // Without the files the same limit holds as well.
    let (_, answer) = post(
        &svc,
        "/submissions?wait=true&fields=*",
        json!({"language_id": J_PYTHON, "source_code": program, "memory_limit": 20480}),
    )
    .await;
    assert_ne!(status_of(&answer), ACCEPTED, "{answer}");
    svc.stop_and_check_clean();
}

/// A batch of `count` submissions, each with `archive` as its files.
fn batch(count: usize, archive: &[u8]) -> Value {
    let files = b64(archive);
    let one =
        json!({"language_id": J_PYTHON, "source_code": "print(1)", "additional_files": files});
    json!({"submissions": vec![one; count]})
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_over_budget_is_refused_before_unpacking() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Three of 6.6 MB: two fit the request's 16 MiB, the third does not.
    let archive = archive_of(6_600_000);
    let (status, answer) = post(&svc, "/submissions/batch", batch(3, &archive)).await;
    assert_eq!(status, 201, "{answer}");
    let answers = answer.as_array().unwrap();
    assert!(
        answers[0]["token"].is_string() && answers[1]["token"].is_string(),
        "{answer}"
    );
    let refused = answers[2]["additional_files"][0]
        .as_str()
        .unwrap_or_default();
    assert!(refused.contains("what is left of the 16777216"), "{answer}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn six_zip_batches_keep_server_rss_under_150_mb() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // Twenty of 6 MB each: 120 MB of files per request, were all unpacked
    // (in a body under the service's 1 MB).
    let archive = archive_of(6_000_000);
    let body = batch(20, &archive);
    let before = common::peak_rss(svc.pid());
    let batches = (0..6).map(|_| post(&svc, "/submissions/batch", body.clone()));
    let answers = futures_util::future::join_all(batches).await;
    let mut tokens = Vec::new();
    for (status, answer) in &answers {
        assert!(matches!(status, 201 | 503), "{status}: {answer}");
        let taken = answer.as_array().into_iter().flatten();
        tokens.extend(taken.filter_map(|s| s["token"].as_str().map(str::to_owned)));
    }
    // Something was unpacked (each batch that got in had room for two),
    // and it all ran: the peak covers the runs as well.
    let taken = tokens.len();
    assert!(taken >= 2, "{answers:?}");
    for token in tokens {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (code, answer) = common::judge0::get(&svc, &format!("/submissions/{token}")).await;
            // A finished result stays readable (its files let go, not it).
            assert_ne!(code, 404, "{token} was forgotten before it was read");
            if status_of(&answer) > 2 {
                assert_eq!(status_of(&answer), ACCEPTED, "{answer}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{token} did not finish"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let peak = common::peak_rss(svc.pid());
    eprintln!(
        "{taken} submissions taken; peak RSS {} MB",
        peak / 1_000_000
    );
    assert!(
        peak < 150_000_000,
        "peak RSS {} MB (before the batches: {} MB)",
        peak / 1_000_000,
        before / 1_000_000
    );
    // The service still answers at once.
    let (status, _) = common::post_json(
        &format!("{}/run", svc.url),
        Some(KEY),
        &json!({"language_id": PYTHON, "code": b64("print(1)")}),
    )
    .await;
    assert_eq!(status, 200);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_callback_to_the_services_own_port_is_refused() {
    let _podman = common::podman_test();
    // A listener of the test's own on the same address: a port the service
    // does not listen on, so it stays allowed.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let svc = Service::start(&["--callback-allow", "127.0.0.1"]);
    let submit = |url: String| {
        let svc = &svc;
        async move {
            post(
                svc,
                "/submissions",
                json!({"language_id": J_PYTHON, "source_code": "print(1)", "callback_url": url}),
            )
            .await
        }
    };
    for (host, path) in [
        ("127.0.0.1", "/run"),
        ("127.0.0.1", "/judge0/submissions"),
        ("localhost", "/"),
    ] {
        let (status, body) = submit(format!("http://{host}:{}{path}", svc.port())).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert!(body["callback_url"][0].is_string(), "{body}");
    }
    let (status, body) = submit(format!("http://127.0.0.1:{other_port}/done")).await;
    assert_eq!(status, 201, "{body}");
    drop(other);
    svc.stop_and_check_clean();
}
