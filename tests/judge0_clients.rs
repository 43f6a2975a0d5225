//! What published Judge0 clients send, answered as Judge0 answers it: the
//! IDE's blank options, the sessions routes `judge0api` calls first, and the
//! token as a query parameter.

#![allow(clippy::await_holding_lock)]

mod common;

use common::judge0::{post, status_of};
use common::{Service, KEY};
use serde_json::{json, Value};

const PYTHON: u32 = 71;

/// A request to `/judge0<path>` with no key header at all.
async fn bare(svc: &Service, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    common::judge0::request(svc, method, path, None, &body).await
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn blank_compiler_options_and_arguments_are_absent() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    // The Judge0 IDE's body for a Python run: both fields always sent.
    for blank in ["", " ", "\t\n"] {
        let body = json!({
            "language_id": PYTHON, "source_code": "print(input()[::-1])", "stdin": "olleh",
            "compiler_options": blank, "command_line_arguments": blank,
            "redirect_stderr_to_stdout": true,
        });
        let (status, answer) = post(&svc, "/submissions?wait=true", body).await;
        assert_eq!(status, 201, "{blank:?}: {answer}");
        assert_eq!(status_of(&answer), 3, "{blank:?}: {answer}");
        assert_eq!(answer["stdout"], "hello\n", "{answer}");
    }
    // A real option still needs a compiled language.
    let body = json!({"language_id": PYTHON, "source_code": "print(1)", "compiler_options": "-O2"});
    let (status, answer) = post(&svc, "/submissions?wait=true", body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["compiler_options"][0],
        "setting compiler options is only allowed for compiled languages"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn authenticate_and_authorize_answer_as_judge0() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let (status, _) = post(&svc, "/authenticate", Value::Null).await;
    assert_eq!(status, 200, "the key as X-Auth-Token authenticates");
    let (status, answer) = bare(&svc, reqwest::Method::POST, "/authenticate", Value::Null).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "Authentication failed.");
    let wrong = format!("/authenticate?X-Auth-Token=not-{KEY}");
    let (status, _) = bare(&svc, reqwest::Method::POST, &wrong, Value::Null).await;
    assert_eq!(status, 401);
    let (status, answer) = post(&svc, "/authorize", Value::Null).await;
    assert_eq!(
        status, 403,
        "no authorization token is configured: {answer}"
    );
    assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    let (status, _) = bare(&svc, reqwest::Method::GET, "/authenticate", Value::Null).await;
    assert_eq!(status, 405);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_key_may_come_as_a_query_parameter_and_is_never_logged() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let keyed = format!("/authenticate?X-Auth-Token={KEY}");
    let (status, _) = bare(&svc, reqwest::Method::POST, &keyed, Value::Null).await;
    assert_eq!(status, 200);
    let path = format!("/submissions?wait=true&X-Auth-Token={KEY}&fields=stdout,status");
    let body = json!({"language_id": PYTHON, "source_code": "print('from the query')"});
    let (status, answer) = bare(&svc, reqwest::Method::POST, &path, body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["stdout"], "from the query\n", "{answer}");
    assert!(
        answer.get("token").is_none(),
        "fields still apply: {answer}"
    );
    let log = svc.log_text();
    svc.stop_and_check_clean();
    assert!(!log.contains(KEY), "the key is in the log:\n{log}");
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn trailing_slashes_reach_the_same_route() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let body = json!({"language_id": PYTHON, "source_code": "print('slash')"});
    let (status, answer) = post(&svc, "/submissions/", body).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    let mut finished = Value::Null;
    for _ in 0..100 {
        let (status, answer) = common::judge0::get(&svc, &format!("/submissions/{token}/")).await;
        assert_eq!(status, 200, "{answer}");
        if status_of(&answer) > 2 {
            finished = answer;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status_of(&finished), 3, "{finished}");
    assert_eq!(finished["stdout"], "slash\n", "{finished}");
    let (status, languages) = common::judge0::get(&svc, "/languages/").await;
    assert_eq!(status, 200);
    assert!(
        languages.as_array().is_some_and(|l| !l.is_empty()),
        "{languages}"
    );
    let (status, _) = common::judge0::get(&svc, "/statuses/").await;
    assert_eq!(status, 200);
    svc.stop_and_check_clean();
}
