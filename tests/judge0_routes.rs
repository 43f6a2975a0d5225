//! Judge0's routes beyond submissions, answered as Judge0 answers them:
//! every id a language has listed, the information routes, what needs
//! Judge0's authorization token, and the Extra CE flavour the official
//! SDK's first example needs.

#![allow(clippy::await_holding_lock)]

mod common;

use std::collections::BTreeSet;

use common::judge0::{get, post, status_of};
use common::{Service, KEY};
use serde_json::{json, Value};

/// A keyed GET of `path` (the whole path, base included): status, content
/// type and body text.
async fn fetch(svc: &Service, path: &str, key: bool) -> (u16, String, String) {
    let mut request = Service::client().get(format!("{}{path}", svc.url));
    if key {
        request = request.header("X-Auth-Token", KEY);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

async fn json_at(svc: &Service, path: &str) -> Value {
    let (status, _, text) = fetch(svc, path, true).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn ids(listed: &Value) -> BTreeSet<u64> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_id_is_listed() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let listed = json_at(&svc, "/judge0/languages").await;
    let listed_ids = ids(&listed);
    // C is installed in every test run: GCC's three versions (75 is Clang's,
    // a language of its own that the tests do not build).
    for id in [48, 49, 50] {
        assert!(listed_ids.contains(&id), "{id} not in {listed}");
        let one = json_at(&svc, &format!("/judge0/languages/{id}")).await;
        assert_eq!(one["id"], id);
        assert!(one["name"].as_str().unwrap().starts_with("C ("), "{one}");
    }
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "sorted by name: {names:?}"
    );
    // Each listed id is accepted: a submission under a second id runs.
    let body = json!({"language_id": 49, "source_code": "#include <stdio.h>\nint main(void) { puts(\"49\"); }"});
    let (status, answer) = post(&svc, "/submissions?wait=true", body).await;
    assert_eq!((status, status_of(&answer)), (201, 3), "{answer}");
    assert_eq!(answer["stdout"], "49\n");
    let all = json_at(&svc, "/judge0/languages/all").await;
    assert_eq!(ids(&all), listed_ids);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|l| l["is_archived"] == false),
        "{all}"
    );
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l.get("is_archived").is_none()));
    // Extra CE's ids for the same languages, and only its languages.
    let extra = ids(&json_at(&svc, "/judge0-extra/languages").await);
    for id in [1, 13, 10] {
        assert!(extra.contains(&id), "{id} not in Extra CE's {extra:?}");
    }
    assert!(!extra.contains(&71) && !extra.contains(&50), "{extra:?}");
    let (status, _, _) = fetch(&svc, "/judge0-extra/languages/71", true).await;
    assert_eq!(status, 404, "71 is not an Extra CE id");
    let body = json!({"language_id": 71, "source_code": "print(1)"});
    let response = Service::client()
        .post(format!("{}/judge0-extra/submissions?wait=true", svc.url))
        .header("X-Auth-Token", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["language_id"][0],
        "language with id 71 doesn't exist"
    );
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn judge0_info_routes_answer() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let plain = |path: &'static str| {
        let svc = &svc;
        async move {
            let (status, kind, text) = fetch(svc, path, true).await;
            assert_eq!(status, 200, "{path}: {text}");
            assert!(kind.starts_with("text/plain"), "{path}: {kind}");
            text
        }
    };
    assert_eq!(plain("/judge0/version").await, "1.13.1");
    assert_eq!(plain("/judge0-extra/version").await, "1.13.1-extra");
    assert!(plain("/judge0/license").await.contains("Apache License"));
    assert!(plain("/judge0/isolate").await.contains("container"));
    let about = json_at(&svc, "/judge0-extra/about").await;
    assert_eq!(about["version"], "1.13.1-extra");
    let system = json_at(&svc, "/judge0/system_info").await;
    let cpus: u64 = system["CPU(s)"].as_str().unwrap().parse().unwrap();
    assert!(cpus >= 1, "{system}");
    assert!(
        system["Mem"].as_str().is_some_and(|m| m.ends_with('i')),
        "{system}"
    );
    // A submission is counted once it finished, under its language id.
    let body = json!({"language_id": 71, "source_code": "print(1)"});
    let (status, _) = post(&svc, "/submissions?wait=true", body).await;
    assert_eq!(status, 201);
    let stats = json_at(&svc, "/judge0/statistics").await;
    assert_eq!(stats["submissions"]["total"], 1, "{stats}");
    assert_eq!(stats["languages"][0]["language"]["id"], 71, "{stats}");
    assert_eq!(
        stats["statuses"][0]["status"]["name"], "Accepted",
        "{stats}"
    );
    assert_eq!(
        stats["submissions"]["last_30_days"]
            .as_object()
            .unwrap()
            .len(),
        30
    );
    // What Judge0 allows only with its authorization token: 403 when keyed,
    // 401 without the key.
    let (status, answer) = get(&svc, "/submissions").await;
    assert_eq!(status, 403, "{answer}");
    let (status, _, _) = fetch(&svc, "/judge0/submissions", false).await;
    assert_eq!(status, 401);
    let (status, answer) = common::judge0::request(
        &svc,
        reqwest::Method::DELETE,
        "/submissions/abc",
        Some(KEY),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    for path in [
        "/judge0/version",
        "/judge0/license",
        "/judge0/system_info",
        "/judge0/statistics",
    ] {
        let (status, _, _) = fetch(&svc, path, false).await;
        assert_eq!(status, 401, "{path} needs the key");
    }
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_sdks_first_readme_example_runs_on_the_extra_ce_path() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let headers = json!({ "X-Auth-Token": KEY }).to_string();
    let env = [
        ("JUDGE0_CE_ENDPOINT", format!("{}/judge0", svc.url)),
        ("JUDGE0_CE_AUTH_HEADERS", headers.clone()),
        (
            "JUDGE0_EXTRA_CE_ENDPOINT",
            format!("{}/judge0-extra", svc.url),
        ),
        ("JUDGE0_EXTRA_CE_AUTH_HEADERS", headers),
    ];
    let printed = common::judge0::sdk_with("readme_example.py", &[], &env).await;
    assert!(printed.contains("runs unchanged"), "{printed}");
    let log = svc.log_text();
    svc.stop_and_check_clean();
    // Python for ML went to Extra CE, C to CE (tried first).
    let posted = |path: &str| {
        log.lines()
            .any(|l| l.contains("method=POST") && l.contains(&format!("path={path}")))
    };
    assert!(posted("/judge0-extra/submissions"), "{log}");
    assert!(posted("/judge0/submissions"), "{log}");
}
