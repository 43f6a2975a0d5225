//! Property tests (the fuzz target) for request parsing and validation, and
//! for the whole HTTP layer with a sandbox that never runs anything: arbitrary
//! bodies and headers never panic, never get a 500, and every refusal is a
//! 4xx with a `detail`.
//!
//! Longer runs: `PROPTEST_CASES=20000 cargo test --release --test request_fuzz`.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::inprocess::{languages, state, Fake};
use common::KEY;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use whipcode::api::request::{Context, RunBody, RunRequest, MAX_ARGS, MAX_ARG_LEN};
use whipcode::api::router;

/// Any JSON value, a few levels deep, with strings that like edge cases.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9]{0,25}".prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        "[A-Za-z0-9+/=\n]{0,60}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// A body with the real field names holding arbitrary values.
fn any_run_body() -> impl Strategy<Value = Value> {
    let field = || prop::option::of(any_json());
    (field(), field(), field(), field(), field(), field()).prop_map(
        |(code, lang, args, timeout, stdin, env)| {
            let mut body = Map::new();
            for (name, value) in [
                ("code", code),
                ("language_id", lang),
                ("args", args),
                ("timeout", timeout),
                ("stdin", stdin),
                ("env", env),
            ] {
                if let Some(value) = value {
                    body.insert(name.into(), value);
                }
            }
            Value::Object(body)
        },
    )
}

proptest! {
    #[test]
    fn validation_never_panics_and_accepts_only_well_formed_requests(body in any_run_body()) {
        let parsed: RunBody = serde_json::from_value(body).unwrap();
        let languages = languages();
        let ctx = Context { languages: &languages, max_timeout: Duration::from_secs(10), max_files: 256 };
        if let Ok(request) = RunRequest::try_from((parsed, &ctx)) {
            prop_assert!(!request.code.is_empty());
            prop_assert!(request.timeout <= Duration::from_secs(10));
            prop_assert!(request.args.len() <= MAX_ARGS);
            for arg in &request.args {
                prop_assert!(!arg.is_empty() && arg.len() <= MAX_ARG_LEN && !arg.contains('\0'));
                prop_assert!(!arg.chars().any(char::is_whitespace));
            }
            for (name, value) in &request.env {
                prop_assert!(!request.language.is_reserved_env(name));
                prop_assert!(!value.contains('\0'));
            }
        }
    }

    #[test]
    fn the_http_layer_never_answers_500_and_refusals_have_a_detail(
        body in prop_oneof![
            any_run_body().prop_map(|v| v.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..256),
        ],
        content_type in prop_oneof![
            Just("application/json"),
            Just("application/json; charset=utf-8"),
            Just("text/plain"),
            Just(""),
        ],
        keyed in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (status, text) = runtime.block_on(async {
            let state = state(Fake::Echo);
            let mut request = Request::post("/run");
            if !content_type.is_empty() {
                request = request.header("content-type", content_type);
            }
            if keyed {
                request = request.header("x-master-key", KEY);
            }
            let response = router(state, false)
                .oneshot(request.body(Body::from(body)).unwrap())
                .await
                .unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        });
        prop_assert!(status == 200 || (400..500).contains(&status), "{status}: {text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        if status != 200 {
            prop_assert!(value["detail"].as_str().is_some_and(|d| !d.is_empty()), "{text}");
        } else {
            prop_assert!(value["stdout"].is_string() && value["exit_code"] == 0, "{text}");
        }
    }
}
