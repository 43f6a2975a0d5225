//! `GET /metrics` on real podman, read by the Prometheus project's own
//! parsers (both text formats): its counters move as runs of each API
//! happen, the gauges show a run in flight while it runs, and who may read
//! it (the key or a Bearer token on the service's port; anyone on
//! `--metrics-addr`, which serves nothing else).
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::Duration;

use common::tools::{self, parse_metrics, value, Sample};
use common::{Service, KEY};
use serde_json::json;

const PYTHON: u32 = 1;

async fn scrape_at(url: &str, key: Option<&str>, openmetrics: bool) -> (u16, String, String) {
    let mut request = Service::client().get(format!("{url}/metrics"));
    if let Some(key) = key {
        request = request.header("X-Master-Key", key);
    }
    if openmetrics {
        request = request.header("Accept", "application/openmetrics-text; version=1.0.0");
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

async fn scrape(svc: &Service, python: &std::path::PathBuf) -> Vec<Sample> {
    let (status, kind, text) = scrape_at(&svc.url, Some(KEY), false).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse_metrics(python, &text, false).await
}

fn runs(samples: &[Sample], api: &str, outcome: &str) -> f64 {
    value(
        samples,
        "whipcode_runs_total",
        &[("api", api), ("language", "Python"), ("outcome", outcome)],
    )
}

#[ignore = "needs podman and the core images"]
#[tokio::test]
async fn metrics_parse_with_prometheus_parsers_and_count_each_apis_runs_as_they_happen() {
    let _podman = common::podman_test();
    let python = tools::python();
    let svc = Service::start(&["--pool-size", "1"]);
    let before = scrape(&svc, &python).await;

    svc.run_ok(PYTHON, "print('hi')", json!({})).await;
    let slow = svc
        .run_ok(PYTHON, "import time\ntime.sleep(30)", json!({"timeout": 1}))
        .await;
    assert_eq!(slow["timeout"], true, "{slow}");
    let (status, body) = common::post_json(
        &format!("{}/api/v2/execute", svc.url),
        Some(KEY),
        &json!({"language": "python", "version": "*", "files": [{"content": "print(2)"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = common::judge0::post(
        &svc,
        "/submissions?wait=true",
        json!({"source_code": "print(3)", "language_id": 71}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = common::post_json(
        &format!("{}/run", svc.url),
        Some("not-the-key"),
        &json!({"language_id": PYTHON, "code": common::b64("print(1)")}),
    )
    .await;
    assert_eq!(status, 401);

    let after = scrape(&svc, &python).await;
    let moved = |f: &dyn Fn(&[Sample]) -> f64| f(&after) - f(&before);
    assert_eq!(moved(&|s| runs(s, "whipcode", "ok")), 1.0);
    assert_eq!(moved(&|s| runs(s, "whipcode", "timeout")), 1.0);
    assert_eq!(moved(&|s| runs(s, "piston", "ok")), 1.0);
    assert_eq!(moved(&|s| runs(s, "judge0", "ok")), 1.0);
    assert_eq!(
        moved(&|s| value(s, "whipcode_auth_failures_total", &[])),
        1.0
    );
    // Every run took a warm container or started one; each one's times
    // went into the histograms.
    let pool = |s: &[Sample]| {
        value(s, "whipcode_pool_hits_total", &[]) + value(s, "whipcode_pool_misses_total", &[])
    };
    assert_eq!(moved(&pool), 4.0);
    assert_eq!(
        moved(&|s| value(s, "whipcode_run_queue_wait_seconds_count", &[])),
        4.0
    );
    assert_eq!(
        moved(&|s| value(
            s,
            "whipcode_run_container_seconds_count",
            &[("language", "Python")]
        )),
        4.0
    );
    // The timed-out run's container time is at least its one second.
    assert!(
        moved(&|s| value(
            s,
            "whipcode_run_container_seconds_sum",
            &[("language", "Python")]
        )) >= 1.0
    );
    assert!(
        moved(&|s| value(
            s,
            "whipcode_request_duration_seconds_count",
            &[("route", "/run")]
        )) >= 3.0
    );
    assert_eq!(
        moved(&|s| value(
            s,
            "whipcode_http_requests_total",
            &[("route", "/run"), ("status", "401")]
        )),
        1.0
    );
    assert!(value(&after, "whipcode_container_slots", &[]) > 0.0);
    assert!(value(&after, "whipcode_judge0_workers", &[]) >= 1.0);
    assert!(value(&after, "whipcode_languages_installed", &[]) >= 1.0);

    // The OpenMetrics form, asked for as Prometheus asks, passes the
    // strict parser and says the same.
    let (status, kind, text) = scrape_at(&svc.url, Some(KEY), true).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let open = parse_metrics(&python, &text, true).await;
    assert_eq!(runs(&open, "piston", "ok"), runs(&after, "piston", "ok"));
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test]
async fn a_run_in_flight_shows_in_the_gauges_until_it_is_answered() {
    let _podman = common::podman_test();
    let python = tools::python();
    let svc = Service::start(&[]);
    let url = svc.url.clone();
    let slow = tokio::spawn(async move {
        common::run_at(
            &url,
            json!({"language_id": PYTHON, "code": common::b64("import time\ntime.sleep(3)")}),
        )
        .await
    });
    let in_flight = |s: &[Sample]| value(s, "whipcode_runs_in_flight", &[("api", "whipcode")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let during = loop {
        let now = scrape(&svc, &python).await;
        if in_flight(&now) == 1.0 || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(in_flight(&during), 1.0);
    assert!(value(&during, "whipcode_containers_in_use", &[]) >= 1.0);
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(in_flight(&scrape(&svc, &python).await), 0.0);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test]
async fn metrics_take_the_key_or_a_bearer_token_and_the_metrics_address_serves_them_alone() {
    let _podman = common::podman_test();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let svc = Service::start(&["--metrics-addr", &addr]);
    let (status, _, body) = scrape_at(&svc.url, None, false).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = scrape_at(&svc.url, Some("wrong"), false).await;
    assert_eq!(status, 401);
    let bearer = Service::client()
        .get(format!("{}/metrics", svc.url))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    assert!(bearer
        .text()
        .await
        .unwrap()
        .contains("whipcode_auth_failures_total 2"));

    let keyless = format!("http://{addr}");
    let (status, _, text) = scrape_at(&keyless, None, false).await;
    assert_eq!(status, 200);
    assert!(text.contains("whipcode_pool_hits_total 0"), "{text}");
    // Nothing but the metrics there: not a way around the key.
    let (status, _) = common::post_json(
        &format!("{keyless}/run"),
        None,
        &json!({"language_id": PYTHON, "code": common::b64("print(1)")}),
    )
    .await;
    assert_eq!(status, 404);
    svc.stop_and_check_clean();
}
