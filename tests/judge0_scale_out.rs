//! Judge0's asynchronous API on several instances sharing one Redis
//! (`--store`), on real podman, as behind a load balancer: a token accepted
//! by one instance is answered by every instance; a killed instance loses
//! no accepted submission (its entries are claimed by the others, every
//! verdict and callback arrives); Redis down refuses new asynchronous work
//! but keeps synchronous runs, and what finished meanwhile is written when
//! it returns; the queue's bound holds across instances.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::instances::{Callbacks, Instances};
use common::judge0::{get, post, status_of, until_final};
use common::redis::Redis;
use common::{b64, Service, KEY};
use serde_json::{json, Value};

const PYTHON: u32 = 71;
/// The stream every instance's workers read (`whipcode:judge0:…`).
const QUEUE: &str = "whipcode:judge0:queue";

fn sleeper(seconds: f64) -> Value {
    json!({"language_id": PYTHON, "source_code": format!("import time\ntime.sleep({seconds})\nprint('slept')")})
}

/// A submission that sleeps `seconds`, then prints its input reversed,
/// and expects exactly that.
fn reverser(seconds: f64, input: &str) -> Value {
    let reversed: String = input.chars().rev().collect();
    json!({"language_id": PYTHON,
           "source_code": format!("import time\ntime.sleep({seconds})\nprint(input()[::-1])"),
           "stdin": input, "expected_output": reversed})
}

/// A submission's token, from a 201.
fn token_of(status: u16, answer: &Value) -> String {
    assert_eq!(status, 201, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// How many entries of the shared queue `instance` has taken and not
/// acknowledged (its consumers are named `{instance}-{random}`, one per
/// process).
fn held_by(redis: &Redis, instance: &str) -> usize {
    let reply = redis.command(&format!("XINFO CONSUMERS {QUEUE} workers"));
    let lines: Vec<&str> = reply.lines().collect();
    let mut held = 0;
    let mut theirs = false;
    for (i, line) in lines.iter().enumerate() {
        match *line {
            "name" => {
                let name = lines.get(i + 2).unwrap_or(&"");
                theirs = name.starts_with(&format!("{instance}-"));
            }
            "pending" if theirs => {
                let count = lines.get(i + 1).and_then(|l| l.strip_prefix(':'));
                held += count.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            }
            _ => {}
        }
    }
    held
}

/// Entries taken by any instance and not acknowledged.
fn held(redis: &Redis) -> usize {
    let reply = redis.command(&format!("XPENDING {QUEUE} workers"));
    let count = reply.lines().nth(1).and_then(|l| l.strip_prefix(':'));
    count.and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn a_token_accepted_by_one_instance_is_answered_by_every_instance() {
    let _podman = common::podman_test();
    let redis = Redis::start();
    let cluster = Instances::start(&redis, 3, &["--max-concurrent", "2"]);
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);

    let (status, answer) = post(a, "/submissions", reverser(0.5, "abc")).await;
    let token = token_of(status, &answer);
    let (status, early) = get(c, &format!("/submissions/{token}")).await;
    assert_eq!(status, 200, "known at once on another instance: {early}");
    let within = Duration::from_secs(60);
    let (on_b, seen) = until_final(b, &token, within).await;
    assert_eq!(status_of(&on_b), 3, "{on_b}");
    assert_eq!(on_b["stdout"], "cba\n");
    assert!(seen.len() >= 2, "seen before its verdict too: {seen:?}");
    for other in [a, c] {
        let (answer, _) = until_final(other, &token, within).await;
        assert_eq!(answer, on_b, "{} answers as {}", other.instance, b.instance);
    }
    for svc in [a, b, c] {
        let unknown = "/submissions/00000000-0000-4000-8000-000000000000";
        assert_eq!(get(svc, unknown).await.0, 404);
    }

    // A batch on B, read on C and on A by a batch read.
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"language_id": PYTHON, "source_code": format!("print({i} * {i})")}))
        .collect();
    let (status, answers) = post(b, "/submissions/batch", json!({"submissions": batch})).await;
    assert_eq!(status, 201, "{answers}");
    let tokens: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["token"].as_str().unwrap())
        .collect();
    let query = format!(
        "/submissions/batch?tokens={}&fields=token,stdout,status_id",
        tokens.join(",")
    );
    let deadline = Instant::now() + within;
    let read = loop {
        let (status, read) = get(c, &query).await;
        assert_eq!(status, 200, "{read}");
        let done = read["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| status_of(s) >= 3);
        if done {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never finished: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (i, (submission, token)) in read["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&tokens)
        .enumerate()
    {
        let expected = json!({"token": token, "stdout": format!("{}\n", i * i), "status_id": 3});
        assert_eq!(submission, &expected);
    }
    assert_eq!(get(a, &query).await.1, read, "A reads the batch as C does");
    cluster.stop_and_check_clean();
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_instance_loses_no_accepted_submission() {
    let _podman = common::podman_test();
    let redis = Redis::start();
    let callbacks = Callbacks::start();
    let flags = [
        "--max-concurrent",
        "4",
        "--store-claim-after",
        "3",
        "--callback-allow",
        "127.0.0.1",
    ];
    let mut cluster = Instances::start(&redis, 3, &flags);
    let started = Instant::now();

    // 60 runs of 1 to 3 s, each instance taking 10 one by one and 10 in a batch.
    let mut expected: HashMap<String, String> = HashMap::new();
    let callback_url = callbacks.url("/done");
    let submission = |i: usize| {
        let input = format!("submission {i:02}");
        let mut body = reverser(1.0 + (i % 5) as f64 * 0.5, &input);
        body["callback_url"] = json!(callback_url);
        (
            body,
            format!("{}\n", input.chars().rev().collect::<String>()),
        )
    };
    for (k, svc) in cluster.all.iter().enumerate() {
        for i in (k * 20)..(k * 20 + 10) {
            let (body, stdout) = submission(i);
            let (status, answer) = post(svc, "/submissions", body).await;
            expected.insert(token_of(status, &answer), stdout);
        }
        let (bodies, stdouts): (Vec<Value>, Vec<String>) =
            (k * 20 + 10..k * 20 + 20).map(submission).unzip();
        let (status, answers) =
            post(svc, "/submissions/batch", json!({"submissions": bodies})).await;
        assert_eq!(status, 201, "{answers}");
        for (answer, stdout) in answers.as_array().unwrap().iter().zip(stdouts) {
            expected.insert(token_of(201, answer), stdout);
        }
    }
    assert_eq!(expected.len(), 60);

    // B is killed while it holds entries, once it has finished one.
    let victim = cluster[1].instance.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let held_at_kill = loop {
        let held = held_by(&redis, &victim);
        if held > 0 && cluster[1].log_text().contains("judge0 submission finished") {
            break held;
        }
        assert!(Instant::now() < deadline, "{victim} never took any");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dead = cluster.kill(1);
    eprintln!(
        "killed {victim} holding {held_at_kill} entries after {:?}",
        started.elapsed()
    );

    // Every token reaches its verdict on the survivors, B's too.
    let bound = Duration::from_secs(120);
    let mut pending: Vec<String> = expected.keys().cloned().collect();
    let mut verdicts: HashMap<String, Value> = HashMap::new();
    while !pending.is_empty() {
        assert!(
            started.elapsed() < bound,
            "{} of 60 not final after {bound:?}: {pending:?}",
            pending.len()
        );
        let mut still = Vec::new();
        for (i, token) in pending.into_iter().enumerate() {
            let svc = &cluster[i % 2];
            let (status, answer) = get(svc, &format!("/submissions/{token}?fields=*")).await;
            assert_eq!(status, 200, "{token} on {}: {answer}", svc.instance);
            if status_of(&answer) >= 3 {
                verdicts.insert(token, answer);
            } else {
                still.push(token);
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("all 60 final after {:?}", started.elapsed());
    for (token, answer) in &verdicts {
        assert_eq!(status_of(answer), 3, "{token}: {answer}");
        assert_eq!(
            answer["stdout"],
            json!(expected[token]),
            "{token}: {answer}"
        );
    }
    let taken_over: usize = (0..2)
        .map(|i| {
            cluster[i]
                .log_text()
                .matches("took over a Judge0 submission")
                .count()
        })
        .sum();
    assert!(taken_over >= 1, "B's entries were taken over by the others");
    assert_eq!(held(&redis), 0, "every entry acknowledged, B's too");
    assert_eq!(redis.command(&format!("XLEN {QUEUE}")), ":0");

    // Every callback arrived, at least once.
    let tokens: Vec<String> = expected.keys().cloned().collect();
    let missing = callbacks.wait_for(&tokens, Duration::from_secs(30));
    assert!(missing.is_empty(), "no callback for {missing:?}");
    let received = callbacks.received();
    for callback in &received {
        assert_eq!(callback.line, "PUT /done HTTP/1.1");
        assert_eq!(status_of(&callback.body), 3, "{:?}", callback.body);
    }
    let repeated: Vec<String> = callbacks
        .per_token()
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(token, count)| format!("{token} ×{count}"))
        .collect();
    eprintln!(
        "{} callbacks for 60 tokens, repeated (the crash's, at least once): {repeated:?}",
        received.len()
    );
    drop(dead);
    cluster.stop_and_check_clean();
}

/// Whether a line of `svc`'s log says `token` finished.
fn finished_in_log(svc: &Service, token: &str) -> bool {
    svc.log_text()
        .lines()
        .any(|l| l.contains("judge0 submission finished") && l.contains(token))
}

/// `GET /ready`: its status and JSON.
async fn ready(svc: &Service) -> (u16, Value) {
    let response = Service::client()
        .get(format!("{}/ready", svc.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn redis_down_refuses_new_async_work_and_keeps_sync_runs() {
    let _podman = common::podman_test();
    let mut redis = Redis::start_persistent();
    // The default claim time: no instance takes over another's run here.
    let cluster = Instances::start(&redis, 2, &["--max-concurrent", "4"]);
    let (a, b) = (&cluster[0], &cluster[1]);
    let (_, answer) = ready(a).await;
    assert_eq!(answer["store"]["kind"], "redis", "{answer}");
    assert_eq!(answer["store"]["reachable"], true, "{answer}");

    // A run accepted before the outage and finishing during it.
    let (status, answer) = post(a, "/submissions", sleeper(3.0)).await;
    let before = token_of(status, &answer);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, answer) = get(a, &format!("/submissions/{before}")).await;
        if status_of(&answer) == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "never Processing: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.stop();

    for svc in [a, b] {
        let (status, answer) = post(svc, "/submissions", sleeper(0.1)).await;
        assert_eq!(status, 503, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            error.contains("store") || error.contains("redis"),
            "names the store: {answer}"
        );
        let batch = json!({"submissions": [sleeper(0.1)]});
        let (status, answer) = post(svc, "/submissions/batch", batch).await;
        assert_eq!(status, 503, "{answer}");
    }
    // Synchronous runs: whipcode's, Piston's, Judge0's wait=true.
    let run = json!({"language_id": 1, "code": b64("print('own')")});
    let (status, answer) = common::run_at(&a.url, run).await;
    assert_eq!(
        (status, &answer["stdout"]),
        (200, &json!("own\n")),
        "{answer}"
    );
    let piston =
        json!({"language": "python", "version": "*", "files": [{"content": "print('piston')"}]});
    let url = format!("{}/api/v2/execute", b.url);
    let (status, answer) = common::post_json(&url, Some(KEY), &piston).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["run"]["stdout"], "piston\n", "{answer}");
    let body = json!({"language_id": PYTHON, "source_code": "print('waited')"});
    let (status, answer) = post(a, "/submissions?wait=true", body).await;
    assert_eq!((status, status_of(&answer)), (201, 3), "{answer}");
    assert_eq!(answer["stdout"], "waited\n");
    for svc in [a, b] {
        let (status, answer) = ready(svc).await;
        assert_eq!(status, 200, "synchronous runs work: {answer}");
        assert_eq!(answer["store"]["kind"], "redis", "{answer}");
        assert_eq!(answer["store"]["reachable"], false, "{answer}");
        assert!(answer["store"]["detail"].is_string(), "{answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !finished_in_log(a, &before) && !finished_in_log(b, &before) {
        assert!(
            Instant::now() < deadline,
            "{before} never finished during the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Redis returns, with its data.
    let returned = Instant::now();
    redis.restart();
    let deadline = returned + Duration::from_secs(30);
    let after = loop {
        let (status, answer) = post(b, "/submissions", sleeper(0.1)).await;
        if status == 201 {
            break token_of(status, &answer);
        }
        assert_eq!(status, 503, "{answer}");
        assert!(Instant::now() < deadline, "still refused: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "accepted again {:?} after Redis returned",
        returned.elapsed()
    );
    let within = Duration::from_secs(60);
    let (answer, _) = until_final(a, &after, within).await;
    assert_eq!(
        (status_of(&answer), &answer["stdout"]),
        (3, &json!("slept\n"))
    );
    for svc in [a, b] {
        let (answer, _) = until_final(svc, &before, within).await;
        assert_eq!(
            status_of(&answer),
            3,
            "finished during the outage: {answer}"
        );
        assert_eq!(answer["stdout"], "slept\n");
        let (_, answer) = ready(svc).await;
        assert_eq!(answer["store"]["reachable"], true, "{answer}");
    }
    cluster.stop_and_check_clean();
}

#[ignore = "needs podman and redis-server (./task test runs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn the_shared_bounds_hold() {
    let _podman = common::podman_test();
    let redis = Redis::start();
    // One worker each, a bound of 4 for all three.
    let flags = ["--max-concurrent", "2", "--judge0-queue", "4"];
    let cluster = Instances::start(&redis, 3, &flags);
    let mut tokens = Vec::new();
    for svc in &cluster.all {
        let (status, answer) = post(svc, "/submissions", sleeper(4.0)).await;
        tokens.push(token_of(status, &answer));
    }
    let full = json!({"error": "queue is full"});
    let two = json!({"submissions": [sleeper(0.1), sleeper(0.1)]});
    let (status, answer) = post(&cluster[0], "/submissions/batch", two).await;
    assert_eq!(
        (status, answer),
        (503, full.clone()),
        "3 + 2 > 4: all or none"
    );
    let (status, answer) = post(&cluster[1], "/submissions", sleeper(4.0)).await;
    tokens.push(token_of(status, &answer));
    for svc in &cluster.all {
        let (status, answer) = post(svc, "/submissions", sleeper(0.1)).await;
        assert_eq!((status, answer), (503, full.clone()), "{}", svc.instance);
        let one = json!({"submissions": [sleeper(0.1)]});
        let (status, answer) = post(svc, "/submissions/batch", one).await;
        assert_eq!((status, answer), (503, full.clone()), "{}", svc.instance);
    }
    // Every instance shows the same shared queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut sizes = Vec::new();
        for svc in &cluster.all {
            sizes.push(get(svc, "/workers").await.1[0]["size"].clone());
        }
        if sizes.iter().all(|s| *s == sizes[0]) && sizes[0].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "queue sizes differ: {sizes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Once they finish, there is room again, on every instance.
    for token in &tokens {
        let (answer, _) = until_final(&cluster[2], token, Duration::from_secs(60)).await;
        assert_eq!(status_of(&answer), 3, "{answer}");
    }
    for svc in &cluster.all {
        let (status, answer) = post(svc, "/submissions", sleeper(0.1)).await;
        let token = token_of(status, &answer);
        let (answer, _) = until_final(svc, &token, Duration::from_secs(60)).await;
        assert_eq!(status_of(&answer), 3, "{answer}");
    }
    cluster.stop_and_check_clean();
}
