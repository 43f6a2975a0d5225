//! Three instances behind HAProxy, configured by the deployment example
//! (`deploy/haproxy-whipcode.cfg`), sharing one key file and one Redis
//! (`--store`): a rolling restart under load drops nothing (each instance
//! drains: `/ready` answers 503 for its drain grace while it still serves,
//! and HAProxy's checks take it out before it stops listening), and a
//! killed instance is routed around. In process, without podman: what
//! `/ready` says while an instance drains, and that it still serves until
//! its grace ends.

#![allow(clippy::await_holding_lock)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::haproxy::{haproxy_test, Balancer};
use common::inprocess::{state, App, Fake};
use common::instances::Store;
use common::judge0::post;
use common::{b64, KEY};
use serde_json::{json, Value};

/// Judge0's id of Python 3.
const PYTHON: u32 = 71;

/// Each instance's flags: the default drain grace, written out (the test
/// harness stops its other services at once), and one warm container each
/// so that three instances fit on a small machine.
const FLAGS: [&str; 4] = ["--drain-grace", "5", "--pool-size", "1"];

/// What HAProxy's checks need to take a draining instance out or bring a
/// started one back: 2 checks a second apart, with room to spare.
const CHECKS: Duration = Duration::from_secs(10);

/// The instances, and HAProxy in front of them once each is in rotation.
fn three_behind_haproxy() -> (Fleet, Balancer) {
    haproxy_test();
    let instances = Fleet::start(3, &FLAGS);
    let balancer = Balancer::start(&instances.ports);
    for server in ["whipcode1", "whipcode2", "whipcode3"] {
        let up = balancer.wait_status(server, "UP", CHECKS);
        assert!(
            up.is_some(),
            "{server} never came up:\n{}",
            balancer.log_text()
        );
    }
    (instances, balancer)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// One synchronous run through `base` that prints `n`, by whipcode's API
/// (even `n`) or Piston's (odd); `Err` says what went wrong.
async fn sync_run(client: &reqwest::Client, base: &str, n: usize) -> Result<(), String> {
    let code = format!("print({n})");
    let (path, body) = if n.is_multiple_of(2) {
        ("/run", json!({"language_id": 1, "code": b64(&code)}))
    } else {
        let files = [json!({"content": code})];
        let body = json!({"language": "python", "version": "*", "files": files});
        ("/api/v2/execute", body)
    };
    let sent = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await;
    let response = sent.map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let stdout = answer["stdout"]
        .as_str()
        .or(answer["run"]["stdout"].as_str());
    if status != 200 || stdout != Some(&format!("{n}\n")) {
        return Err(format!("{path} {status}: {answer}"));
    }
    Ok(())
}

/// An asynchronous Judge0 submission through `base` that prints `n`; its token.
async fn submit(client: &reqwest::Client, base: &str, n: usize) -> Result<String, String> {
    let body = json!({"language_id": PYTHON, "source_code": format!("print({n})")});
    let url = format!("{base}/judge0/submissions");
    let response = client.post(url).json(&body).send().await;
    let response = response.map_err(|e| format!("submission: {e}"))?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    match answer["token"].as_str() {
        Some(token) if status == 201 => Ok(token.to_owned()),
        _ => Err(format!("submission {status}: {answer}")),
    }
}

/// Waits (bounded) until every token's submission is final; those that
/// are not Accepted with the output they were sent for, with what they are.
async fn not_accepted(base: &str, tokens: &[(usize, String)], within: Duration) -> Vec<String> {
    let client = client();
    let until = Instant::now() + within;
    let mut wrong = Vec::new();
    for (n, token) in tokens {
        let url = format!("{base}/judge0/submissions/{token}?fields=status,stdout");
        let answer = loop {
            let answer: Value = match client.get(&url).send().await {
                Ok(response) => response.json().await.unwrap_or(Value::Null),
                Err(e) => json!({"error": e.to_string()}),
            };
            let status = answer["status"]["id"].as_u64().unwrap_or(0);
            if status > 2 || Instant::now() > until {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let expected = format!("{n}\n");
        if answer["status"]["id"] != 3 || answer["stdout"].as_str() != Some(&expected) {
            wrong.push(format!("{token} (print({n})): {answer}"));
        }
    }
    wrong
}

/// What a client sent through the balancer while it ran, and what failed.
#[derive(Default)]
struct Load {
    runs: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
    tokens: std::sync::Mutex<Vec<(usize, String)>>,
}

/// A client that, until `stop`, sends a synchronous run, then (every
/// other time) an asynchronous submission, through `base`, about one a
/// second: a few dozen in all.
async fn load(base: String, first: usize, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let client = client();
    let mut n = first;
    while !stop.load(Ordering::SeqCst) {
        n += 2;
        match sync_run(&client, &base, n).await {
            Ok(()) => load.runs.fetch_add(1, Ordering::SeqCst),
            Err(e) => {
                load.failures.lock().unwrap().push(e);
                0
            }
        };
        if n % 4 < 2 {
            match submit(&client, &base, n).await {
                Ok(token) => load.tokens.lock().unwrap().push((n, token)),
                Err(e) => load.failures.lock().unwrap().push(e),
            }
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
}

#[ignore = "needs podman, the core images, redis-server and haproxy"]
#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_under_load_drops_nothing() {
    let _podman = common::podman_test();
    let (mut instances, balancer) = three_behind_haproxy();
    let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(Load::default()));
    let clients: Vec<_> = (0..2)
        .map(|first| {
            let (base, sent, stop) = (balancer.url.clone(), sent.clone(), stop.clone());
            tokio::spawn(load(base, first, sent, stop))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (i, server) in ["whipcode1", "whipcode2", "whipcode3"].iter().enumerate() {
        instances.terminate(i);
        let stopped =
            tokio::task::block_in_place(|| instances.wait_stopped(i, Duration::from_secs(90)));
        assert!(!stopped.contains("were lost"), "instance {i}:\n{stopped}");
        tokio::task::block_in_place(|| instances.start_one(i));
        let up = tokio::task::block_in_place(|| balancer.wait_status(server, "UP", CHECKS));
        assert!(
            up.is_some(),
            "{server} did not come back:\n{}",
            balancer.log_text()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let failures = sent.failures.lock().unwrap().clone();
    assert_eq!(failures, Vec::<String>::new(), "{}", balancer.log_text());
    let runs = sent.runs.load(Ordering::SeqCst);
    let tokens = sent.tokens.lock().unwrap().clone();
    assert!(
        runs >= 12 && tokens.len() >= 6,
        "{runs} runs, {} tokens",
        tokens.len()
    );
    let wrong = not_accepted(&balancer.url, &tokens, Duration::from_secs(90)).await;
    assert_eq!(wrong, Vec::<String>::new(), "of {} tokens", tokens.len());
}

/// How many requests other than HAProxy's checks (`GET /ready`) an
/// instance's log shows.
fn served(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(" request") && l.contains("path=") && !l.contains("path=/ready"))
        .count()
}

#[ignore = "needs podman, the core images, redis-server and haproxy"]
#[tokio::test(flavor = "multi_thread")]
async fn haproxy_stops_sending_to_a_draining_instance() {
    let _podman = common::podman_test();
    let (mut instances, balancer) = three_behind_haproxy();
    let client = client();
    for n in 0..6 {
        sync_run(&client, &balancer.url, n).await.unwrap();
    }
    let signalled = Instant::now();
    instances.terminate(0);
    let down = tokio::task::block_in_place(|| balancer.wait_status("whipcode1", "DOWN", CHECKS));
    let down = down.unwrap_or_else(|| panic!("never marked down:\n{}", balancer.log_text()));
    let before = served(&instances.service(0).log_text());
    // Taken out within its drain grace: it still listens, and says why it is not ready.
    let direct = format!("http://127.0.0.1:{}/ready", instances.ports[0]);
    let ready = client.get(direct).send().await.expect("still listening");
    assert_eq!(ready.status().as_u16(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        (ready["draining"].as_bool(), ready["ready"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "down after {down:?}, grace over"
    );
    for n in 6..12 {
        sync_run(&client, &balancer.url, n).await.unwrap();
    }
    let log = tokio::task::block_in_place(|| instances.wait_stopped(0, Duration::from_secs(60)));
    assert!(before > 0, "it served before it drained:\n{log}");
    assert_eq!(
        served(&log),
        before,
        "a request reached it after it was marked down"
    );
}

#[ignore = "needs podman, the core images, redis-server and haproxy"]
#[tokio::test(flavor = "multi_thread")]
async fn haproxy_routes_around_a_killed_instance() {
    let _podman = common::podman_test();
    let (mut instances, balancer) = three_behind_haproxy();
    let client = client();
    for n in 0..3 {
        sync_run(&client, &balancer.url, n).await.unwrap();
    }
    instances.kill(1);
    let down = tokio::task::block_in_place(|| balancer.wait_status("whipcode2", "DOWN", CHECKS));
    assert!(
        down.is_some(),
        "never marked down:\n{}",
        balancer.log_text()
    );
    for n in 3..12 {
        let ran = sync_run(&client, &balancer.url, n).await;
        assert_eq!(ran, Ok(()), "{}", balancer.log_text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draining_instance_answers_ready_503_and_serves_until_its_grace_ends() {
    let runs = Arc::new(AtomicUsize::new(0));
    let state = state(Fake::Counting(Arc::clone(&runs)));
    let mut app = App::draining_after(state, Duration::from_secs(2)).await;
    let client = client();
    let ready = client
        .get(format!("{}/ready", app.url))
        .send()
        .await
        .unwrap();
    let before: Value = ready.json().await.unwrap();
    assert_eq!(before["draining"], false, "{before}");
    let begun = app.signal();
    let ready = client
        .get(format!("{}/ready", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let during: Value = ready.json().await.unwrap();
    assert_eq!(
        (&during["draining"], &during["ready"]),
        (&json!(true), &json!(false))
    );
    // Still served, on a new connection, within the grace.
    let run = json!({"language_id": 1, "code": b64("print(1)")});
    let fresh = reqwest::Client::new().post(format!("{}/run", app.url));
    let answer = fresh
        .header("x-master-key", KEY)
        .json(&run)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let url = app.url.clone();
    app.stopped(Duration::from_secs(10)).await;
    assert!(
        begun.elapsed() >= Duration::from_secs(2),
        "stopped before its grace ended"
    );
    let refused = reqwest::Client::new()
        .get(format!("{}/ready", url))
        .send()
        .await;
    assert!(refused.is_err(), "listening after its grace");
}

/// During its grace a draining instance refuses a new asynchronous
/// submission its own queue would lose at the end of the drain (the
/// embedded store: Judge0's 503 naming the shutdown), still runs
/// synchronous ones, and takes asynchronous ones the shared store keeps
/// for other instances.
#[ignore = "needs podman, the core images, redis-server and haproxy"]
#[tokio::test(flavor = "multi_thread")]
async fn while_draining_an_instance_refuses_only_the_async_work_it_would_lose() {
    let _podman = common::podman_test();
    for (store, taken) in [(Store::Embedded, 503), (Store::Redis, 201)] {
        let (svc, _redis) = store.start(&["--drain-grace", "4"]);
        svc.terminate();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let ready = reqwest::get(format!("{}/ready", svc.url)).await.unwrap();
            if ready.status().as_u16() == 503 {
                break;
            }
        }
        let submission = json!({"language_id": 71, "source_code": "print(1)"});
        let (status, answer) = post(&svc, "/submissions", submission.clone()).await;
        assert_eq!(status, taken, "{store:?}: {answer}");
        if taken == 503 {
            let error = answer["error"].as_str().unwrap_or_default();
            assert!(error.contains("shutting down"), "{answer}");
        }
        let (status, answer) = post(&svc, "/submissions?wait=true", submission).await;
        assert_eq!(
            (status, &answer["stdout"]),
            (201, &json!("1\n")),
            "{answer}"
        );
    }
}
