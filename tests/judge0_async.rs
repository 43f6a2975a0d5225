//! Judge0's asynchronous API, on real podman: tokens polled from In Queue
//! to their verdict, batches (20 and 21), unknown tokens, results read by
//! token in any fields and encoding (a `wait=true` one's too), a flood past
//! the queue's bound (503, and every token given reaches a verdict),
//! SIGTERM with work queued, callbacks (allowed, refused by address, by
//! what a name resolves to, and a redirect not followed), and Judge0's
//! official Python SDK running submissions, test cases and a batch
//! unchanged. The core cases run on both stores, the embedded one and Redis
//! (`--store`): [`on_both_stores`].
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::instances::Store;
use common::judge0::{get, post, status_of, unb64};
use common::{b64, Service};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PYTHON: u32 = 71;

/// A case of this suite as two tests, `case::embedded` and `case::redis`:
/// the same body on each store.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use super::Store;

            #[ignore = "needs podman and the core images"]
            #[tokio::test(flavor = "multi_thread")]
            async fn embedded() {
                super::$case(Store::Embedded).await
            }

            #[ignore = "needs podman, the core images and redis-server"]
            #[tokio::test(flavor = "multi_thread")]
            async fn redis() {
                super::$case(Store::Redis).await
            }
        }
    )*};
}

on_both_stores!(
    a_token_is_polled_from_in_queue_to_its_verdict_and_batches_are_bounded,
    a_result_is_read_by_its_token_in_any_fields_and_encoding,
    a_flood_past_the_bound_is_refused_and_every_token_given_finishes,
    callbacks_go_only_where_the_allow_list_lets_them_and_redirects_are_not_followed,
);

/// Polls a token until its status is final (3 or more); every status seen.
async fn until_final(svc: &Service, token: &str) -> (Value, Vec<u64>) {
    common::judge0::until_final(svc, token, Duration::from_secs(120)).await
}

fn sleeper(seconds: f64) -> Value {
    json!({"language_id": PYTHON, "source_code": format!("import time\ntime.sleep({seconds})\nprint('slept')")})
}

async fn a_token_is_polled_from_in_queue_to_its_verdict_and_batches_are_bounded(store: Store) {
    let _podman = common::podman_test();
    // Two containers: one worker for the queue.
    let (svc, _redis) = store.start(&["--max-concurrent", "2"]);
    let (status, first) = post(&svc, "/submissions", sleeper(1.5)).await;
    assert_eq!(status, 201, "{first}");
    let (_, second) = post(
        &svc,
        "/submissions",
        json!({"language_id": PYTHON, "source_code": "print(input())", "stdin": "second"}),
    )
    .await;
    let token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 36);
    assert_eq!(uuid_version(&token), '4', "{token}");
    let (answer, seen) = until_final(&svc, &token).await;
    assert_eq!(seen.first(), Some(&1), "first seen In Queue: {seen:?}");
    assert!(
        seen.contains(&2) || seen.len() == 2,
        "then Processing: {seen:?}"
    );
    assert_eq!(status_of(&answer), 3, "{answer}");
    assert_eq!(answer["stdout"], "second\n");
    assert!(answer["finished_at"].as_str().unwrap().ends_with('Z'));
    let (first, _) = until_final(&svc, first["token"].as_str().unwrap()).await;
    assert_eq!(first["stdout"], "slept\n");

    // Unknown tokens.
    let (status, _) = get(&svc, "/submissions/00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, 404);

    // A batch of 20: a token for each, and field errors in place.
    let mut batch: Vec<Value> = (0..19)
        .map(|i| json!({"language_id": PYTHON, "source_code": format!("print({i})")}))
        .collect();
    batch.insert(7, json!({"language_id": 123456, "source_code": "x"}));
    let (status, answers) = post(&svc, "/submissions/batch", json!({"submissions": batch})).await;
    assert_eq!(status, 201, "{answers}");
    let answers = answers.as_array().unwrap().clone();
    assert_eq!(answers.len(), 20);
    assert_eq!(
        answers[7]["language_id"],
        json!(["language with id 123456 doesn't exist"])
    );
    let tokens: Vec<&str> = answers.iter().filter_map(|a| a["token"].as_str()).collect();
    assert_eq!(tokens.len(), 19);
    for token in &tokens {
        until_final(&svc, token).await;
    }
    let query = format!(
        "/submissions/batch?tokens={},{},nope&fields=stdout,status_id",
        tokens[0], tokens[18]
    );
    let (status, read) = get(&svc, &query).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        read["submissions"][0],
        json!({"stdout": "0\n", "status_id": 3})
    );
    assert_eq!(read["submissions"][1]["stdout"], "18\n");
    assert_eq!(read["submissions"][2], Value::Null);
    // 21 and 0 are refused whole.
    let many: Vec<Value> = (0..21)
        .map(|_| json!({"language_id": PYTHON, "source_code": "1"}))
        .collect();
    let (status, answer) = post(&svc, "/submissions/batch", json!({"submissions": many})).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = post(&svc, "/submissions/batch", json!({"submissions": []})).await;
    assert_eq!(status, 400);
    let (_, workers) = get(&svc, "/workers").await;
    assert_eq!(
        workers[0]["available"], 1,
        "half of 2 containers: {workers}"
    );
    svc.stop_and_check_clean();
}

fn uuid_version(token: &str) -> char {
    token.chars().nth(14).unwrap_or('?')
}

/// A result read by its token as the submission shows it: any fields,
/// base64 or not (output that is not UTF-8 only in base64), single and in
/// a batch; and a `wait=true` submission's result, the same by its token.
async fn a_result_is_read_by_its_token_in_any_fields_and_encoding(store: Store) {
    let _podman = common::podman_test();
    let (svc, _redis) = store.start(&[]);
    let program = "import sys\nsys.stdout.buffer.write(bytes([0xff, 0x00]) + sys.stdin.buffer.read())\nsys.stderr.write('warned')";
    let body = json!({"language_id": PYTHON, "source_code": b64(program), "stdin": b64("in\n")});
    let (status, answer) = post(&svc, "/submissions?base64_encoded=true", body).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    let in_base64 = "base64_encoded=true&fields=stdout,stderr,status_id,language_id";
    let (answer, _) =
        common::judge0::until_final_as(&svc, &token, in_base64, Duration::from_secs(120)).await;
    assert_eq!(answer.as_object().unwrap().len(), 4, "{answer}");
    assert_eq!(
        (&answer["status_id"], &answer["language_id"]),
        (&json!(3), &json!(PYTHON)),
        "{answer}"
    );
    assert_eq!(unb64(&answer["stdout"]), b"\xff\x00in\n");
    assert_eq!(unb64(&answer["stderr"]), b"warned");
    let (status, answer) = get(&svc, &format!("/submissions/{token}")).await;
    assert_eq!(status, 400, "not UTF-8 without base64: {answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("use base64_encoded=true"),
        "{answer}"
    );

    // wait=true: the answer, and the same again by its token.
    let body = json!({"language_id": PYTHON, "source_code": "print(input())", "stdin": "kept"});
    let (status, waited) = post(&svc, "/submissions?wait=true&fields=*", body).await;
    assert_eq!((status, status_of(&waited)), (201, 3), "{waited}");
    let kept = waited["token"].as_str().unwrap();
    let (status, read) = get(&svc, &format!("/submissions/{kept}?fields=*")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, waited, "read by its token as it was answered");
    let query =
        format!("/submissions/batch?tokens={token},{kept}&base64_encoded=true&fields=token,stdout");
    let (status, read) = get(&svc, &query).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["submissions"][0]["token"], json!(token));
    assert_eq!(unb64(&read["submissions"][1]["stdout"]), b"kept\n");
    svc.stop_and_check_clean();
}

async fn a_flood_past_the_bound_is_refused_and_every_token_given_finishes(store: Store) {
    let _podman = common::podman_test();
    let (svc, _redis) = store.start(&["--max-concurrent", "2", "--judge0-queue", "4"]);
    let mut tokens = Vec::new();
    let mut refused = 0;
    for _ in 0..12 {
        let (status, answer) = post(&svc, "/submissions", sleeper(0.3)).await;
        match status {
            201 => tokens.push(answer["token"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(answer, json!({"error": "queue is full"}));
                refused += 1;
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert!(refused >= 1, "12 at once past a bound of 4");
    assert!(tokens.len() >= 4, "{} taken", tokens.len());
    for token in &tokens {
        let (answer, _) = until_final(&svc, token).await;
        assert_eq!(status_of(&answer), 3, "{answer}");
    }
    // A synchronous run was never starved meanwhile.
    let (status, answer) = post(
        &svc,
        "/submissions?wait=true",
        json!({"language_id": PYTHON, "source_code": "print(1)"}),
    )
    .await;
    assert_eq!((status, status_of(&answer)), (201, 3), "{answer}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_accepted_work_within_the_drain_deadline_and_loses_the_rest() {
    let _podman = common::podman_test();
    let mut svc = Service::start(&["--max-concurrent", "2", "--drain-timeout", "3"]);
    for _ in 0..8 {
        let (status, _) = post(&svc, "/submissions", sleeper(1.0)).await;
        assert_eq!(status, 201);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    svc.terminate();
    let exit = svc.wait_exit(Duration::from_secs(60));
    assert!(exit.success(), "{exit:?}");
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(20), "stopped in {took:?}");
    let logs = svc.log_text();
    let finished = logs.matches("judge0 submission finished").count();
    assert!(
        finished >= 1,
        "some work finished within the deadline:\n{logs}"
    );
    let lost_line = logs
        .lines()
        .find(|l| l.contains("queued Judge0 submissions were lost"))
        .unwrap_or_else(|| panic!("no loss reported:\n{logs}"));
    let lost: usize = lost_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        finished + lost,
        8,
        "every accepted submission finished or was counted lost: {lost_line}"
    );
    common::wait_for_host_count(svc.host_before);
}

/// A one-shot HTTP listener: the first request's head and body, answered
/// with `answer`.
async fn listener(
    address: &str,
    answer: &'static str,
) -> (u16, tokio::task::JoinHandle<Option<(String, Vec<u8>)>>) {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let accepted = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
        let (mut stream, _) = accepted.ok()?.ok()?;
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + length || n == 0 {
                    let _ = stream.write_all(answer.as_bytes()).await;
                    return Some((text[..end].to_owned(), data[end + 4..].to_vec()));
                }
            }
            if n == 0 {
                return None;
            }
        }
    });
    (port, task)
}

async fn callbacks_go_only_where_the_allow_list_lets_them_and_redirects_are_not_followed(
    store: Store,
) {
    let _podman = common::podman_test();
    // Only 127.0.0.2: `localhost` resolves to 127.0.0.1 (and ::1), refused.
    let (svc, _redis) = store.start(&["--callback-allow", "127.0.0.2"]);
    let (port, received) = listener(
        "127.0.0.2:0",
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let body = json!({"language_id": PYTHON, "source_code": "print('called back')",
                      "callback_url": format!("http://127.0.0.2:{port}/judge0/done?id=7")});
    let (status, answer) = post(&svc, "/submissions", body).await;
    assert_eq!(status, 201, "{answer}");
    let (head, payload) = received.await.unwrap().expect("the callback arrived");
    assert!(head.starts_with("PUT /judge0/done?id=7 HTTP/1.1"), "{head}");
    let payload: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload["token"], answer["token"]);
    assert_eq!(status_of(&payload), 3, "{payload}");
    assert_eq!(
        unb64(&payload["stdout"]),
        b"called back\n",
        "base64, as Judge0 sends it"
    );
    let mut keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "compile_output",
            "memory",
            "message",
            "status",
            "stderr",
            "stdout",
            "time",
            "token"
        ]
    );

    // Refused at once: an address outside the list, a name resolving
    // outside it, and what is not an http URL.
    for url in [
        "http://10.1.2.3/x",
        &format!("http://localhost:{port}/x"),
        "file:///etc/passwd",
    ] {
        let body = json!({"language_id": PYTHON, "source_code": "print(1)", "callback_url": url});
        let (status, answer) = post(&svc, "/submissions", body).await;
        assert_eq!(status, 422, "{url}: {answer}");
        assert!(answer["callback_url"][0].is_string(), "{url}: {answer}");
    }

    // A redirect is an answer, not an instruction: its target hears nothing.
    let (target, redirected) = listener(
        "127.0.0.2:0",
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.2:{target}/stolen\r\ncontent-length: 0\r\n\r\n").into_boxed_str(),
    );
    let (port, first) = listener("127.0.0.2:0", redirect).await;
    let body = json!({"language_id": PYTHON, "source_code": "print(2)", "callback_url": format!("http://127.0.0.2:{port}/cb")});
    let (status, _) = post(&svc, "/submissions?wait=true", body).await;
    assert_eq!(status, 201);
    assert!(first.await.unwrap().is_some(), "the callback arrived");
    let followed = tokio::time::timeout(Duration::from_secs(3), redirected).await;
    assert!(
        !matches!(followed, Ok(Ok(Some(_)))),
        "the redirect was followed"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn judge0s_official_sdk_runs_submissions_test_cases_and_batches_unchanged() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let base = format!("{}/judge0", svc.url);
    let printed = common::judge0::sdk("run_async.py", &base).await;
    assert!(
        printed.contains("the SDK runs everything unchanged"),
        "{printed}"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the test images"]
#[tokio::test(flavor = "multi_thread")]
async fn judge0s_official_sdk_judges_a_new_compiled_and_a_new_interpreted_language() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let base = format!("{}/judge0", svc.url);
    let printed = common::judge0::sdk("new_languages.py", &base).await;
    assert!(
        printed.contains("the SDK judges both languages unchanged"),
        "{printed}"
    );
    svc.stop_and_check_clean();
}
