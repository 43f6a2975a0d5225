//! The server reports its own time apart from the sandbox's (`Server-Timing`),
//! so its overhead can be measured without the container's. A fake sandbox
//! that takes a known time stands in: this checks the HTTP layer only, and
//! that the whole service runs in-process on port 0 with its own shutdown.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::inprocess::{state, App, Fake};
use common::KEY;
use serde_json::json;
use tower::ServiceExt;
use whipcode::api::router;

fn durations(header: &str) -> (f64, f64) {
    let mut server = None;
    let mut sandbox = None;
    for part in header.split(',') {
        let (name, dur) = part.trim().split_once(";dur=").unwrap();
        let dur: f64 = dur.parse().unwrap();
        match name {
            "server" => server = Some(dur),
            "sandbox" => sandbox = Some(dur),
            other => panic!("unexpected metric {other}"),
        }
    }
    (server.unwrap(), sandbox.unwrap())
}

#[tokio::test]
async fn server_timing_separates_the_servers_own_time_from_the_sandboxs() {
    let state = state(Fake::Slow(Duration::from_millis(60)));
    let app = router(state, false);
    let request = || {
        Request::post("/run")
            .header("content-type", "application/json")
            .header("x-master-key", KEY)
            .body(Body::from(
                json!({"language_id": 1, "code": "eA=="}).to_string(),
            ))
            .unwrap()
    };
    // The first request pays argon2 for the key; the second is the steady state.
    let _ = app.clone().oneshot(request()).await.unwrap();
    let response = app.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["server-timing"].to_str().unwrap();
    let (server, sandbox) = durations(header);
    assert!(sandbox >= 60.0, "{header}");
    assert!(server < sandbox, "{header}");
}

#[tokio::test]
async fn the_service_runs_in_process_on_port_0_and_stops_at_its_shutdown_signal() {
    let app = App::start(
        state(Fake::Slow(Duration::from_millis(10))),
        true,
        Duration::from_secs(5),
    )
    .await;
    let url = app.url.clone();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/run"))
        .header("X-Master-Key", KEY)
        .json(&json!({"language_id": 1, "code": "eA=="}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pong = client.get(format!("{url}/ping")).send().await.unwrap();
    assert_eq!(pong.text().await.unwrap(), "pong");
    app.stop().await;
    assert!(
        reqwest::get(format!("{url}/ping")).await.is_err(),
        "nothing listens any more"
    );
}
