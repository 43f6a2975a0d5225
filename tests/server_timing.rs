//! The server reports its own time apart from the sandbox's (`Server-Timing`),
//! so its overhead can be measured without the container's. A fake sandbox
//! that takes a known time stands in: this checks the HTTP layer only.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt;
use whipcode::api::{router, AppState};
use whipcode::auth::MasterKey;
use whipcode::languages::LanguageMap;
use whipcode::sandbox::{BoxFuture, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError};

struct Slow(Duration);

impl Sandbox for Slow {
    fn run(&self, _: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        let took = self.0;
        Box::pin(async move {
            tokio::time::sleep(took).await;
            Ok(RunOutcome {
                exit_code: Some(0),
                container_age: took,
                ..RunOutcome::default()
            })
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

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
    let state = AppState::new(
        Arc::new(MasterKey::parse(include_str!("fixtures/argon2-cffi.masterkey")).unwrap()),
        Arc::new(LanguageMap::load(None).unwrap()),
        Arc::new(Slow(Duration::from_millis(60))),
    );
    let app = router(state, false);
    let request = || {
        Request::post("/run")
            .header("content-type", "application/json")
            .header("x-master-key", "fixture-master-key")
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
