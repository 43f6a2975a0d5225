//! Judge0's request as the OpenAPI document describes it and as the parser
//! reads it are one: the schema's properties are exactly Judge0 CE 1.13.1's
//! submission attributes, the parser reads every one of them, a body made
//! from the schema (and the server's `config_info`) runs, alone and in a
//! batch, and a field the schema does not know is ignored, as Judge0's
//! `params.permit` ignores it. In-process, with a fake sandbox.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use common::inprocess::{state, Fake};
use common::schema::resolved;
use common::KEY;
use serde_json::{json, Map, Value};
use tower::ServiceExt as _;
use whipcode::api::judge0::{callback, queue, store};

/// `submission_params` in Judge0 CE 1.13.1's
/// `app/controllers/submissions_controller.rb`, in its order.
const JUDGE0_ATTRIBUTES: [&str; 20] = [
    "source_code",
    "language_id",
    "compiler_options",
    "command_line_arguments",
    "number_of_runs",
    "stdin",
    "expected_output",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
];

/// A callback the server allows (a string is the schema's type; the
/// allow-list is the server's).
const CALLBACK: &str = "http://127.0.0.1:9/done";

/// The routes with Judge0's queue, callbacks allowed to 127.0.0.1.
fn app() -> axum::Router {
    let state = state(Fake::Echo);
    let allow = whipcode::allowlist::parse_allow_list("127.0.0.1").unwrap();
    let service = queue::Service::start(
        &state,
        queue::QueueSettings {
            capacity: 50,
            workers: 1,
            store: store::Bounds {
                records: 100,
                bytes: 1 << 20,
                keep: Duration::from_secs(60),
            },
        },
        None,
        callback::Callbacks::new(allow, Vec::new()),
    );
    whipcode::api::router_with(state, false, Some(Arc::clone(&service)))
}

async fn call(app: &axum::Router, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("X-Auth-Token", KEY)
        .header("Content-Type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A component of the document, by name.
fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// The submission's schema's properties.
fn properties(doc: &Value) -> &Map<String, Value> {
    component(doc, "Judge0Submission")["properties"]
        .as_object()
        .expect("Judge0Submission has properties")
}

/// A body with every property of the schema, each a valid value of its
/// type: the server's default where `config_info` has one (the schema
/// cannot say a server's bounds), the schema's example where it has one,
/// else the type's plain value.
fn body_from_schema(doc: &Value, config: &Value) -> Value {
    let example = &component(doc, "Judge0Submission")["example"];
    let mut body = Map::new();
    for (name, property) in properties(doc) {
        let schema = resolved(doc, property);
        let kind = schema["type"].as_str().unwrap_or_default();
        let value = if name == "callback_url" {
            json!(CALLBACK)
        } else if !config[name].is_null() && kind != "boolean" {
            config[name].clone()
        } else if !example[name].is_null() {
            example[name].clone()
        } else {
            match kind {
                "string" => json!(""),
                "boolean" => json!(false),
                other => panic!("{name}: no value for a {other} ({schema})"),
            }
        };
        body.insert(name.clone(), value);
    }
    Value::Object(body)
}

async fn document_and_config(app: &axum::Router) -> (Value, Value) {
    let (status, doc) = call(app, "GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    let (status, config) = call(app, "GET", "/judge0/config_info", None).await;
    assert_eq!(status, 200, "{config}");
    (doc, config)
}

/// `body` run with `wait=true`: accepted and judged (how the fake's
/// outcome is judged is not this test's business).
async fn judged(app: &axum::Router, body: &Value) {
    let path = "/judge0/submissions?wait=true";
    let (status, answer) = call(app, "POST", path, Some(body.clone())).await;
    assert_eq!(status, 201, "{body} -> {answer}");
    assert!(answer["status"]["id"].is_u64(), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schemas_properties_are_judge0s_submission_attributes() {
    let app = app();
    let (doc, _) = document_and_config(&app).await;
    let mut described: Vec<&str> = properties(&doc).keys().map(String::as_str).collect();
    let mut judge0 = JUDGE0_ATTRIBUTES.to_vec();
    described.sort_unstable();
    judge0.sort_unstable();
    assert_eq!(described, judge0);
    assert_eq!(
        component(&doc, "Judge0Submission")["required"],
        json!(["language_id"])
    );
    let batch = &component(&doc, "Judge0Batch")["properties"]["submissions"];
    assert_eq!(batch["type"], "array", "{batch}");
    assert_eq!(
        batch["items"]["$ref"],
        "#/components/schemas/Judge0Submission"
    );
    for (method, path, schema) in [
        ("post", "/judge0/submissions", "Judge0Submission"),
        ("post", "/judge0/submissions/batch", "Judge0Batch"),
    ] {
        let body = &doc["paths"][path][method]["requestBody"]["content"]["application/json"];
        assert_eq!(
            body["schema"]["$ref"],
            format!("#/components/schemas/{schema}"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_parser_reads_every_described_property() {
    let app = app();
    let (doc, _) = document_and_config(&app).await;
    // An object is no property's type: each is refused under its own name,
    // all at once.
    let body: Map<String, Value> = properties(&doc)
        .keys()
        .map(|name| (name.clone(), json!({})))
        .collect();
    let (status, errors) = call(
        &app,
        "POST",
        "/judge0/submissions?wait=true",
        Some(body.into()),
    )
    .await;
    assert_eq!(status, 422, "{errors}");
    let refused: BTreeSet<&String> = errors.as_object().unwrap().keys().collect();
    let described: BTreeSet<&String> = properties(&doc).keys().collect();
    assert_eq!(refused, described, "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_made_from_the_schema_runs_alone_and_in_a_batch() {
    let app = app();
    let (doc, config) = document_and_config(&app).await;
    let body = body_from_schema(&doc, &config);
    judged(&app, &body).await;
    let (status, answer) = call(&app, "POST", "/judge0/submissions", Some(body.clone())).await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer["token"].is_string(), "{answer}");
    let batch = json!({"submissions": [body.clone(), body]});
    let (status, answer) = call(&app, "POST", "/judge0/submissions/batch", Some(batch)).await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer[0]["token"].is_string() && answer[1]["token"].is_string(),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_the_schema_does_not_know_is_ignored_as_judge0_ignores_it() {
    let app = app();
    let (doc, config) = document_and_config(&app).await;
    let mut body = body_from_schema(&doc, &config);
    assert!(!properties(&doc).contains_key("status_id"));
    for (unknown, value) in [
        ("status_id", json!(4)),
        ("not_a_field", json!({"nested": [1, 2]})),
        ("stdout", json!(7)),
    ] {
        body[unknown] = value;
    }
    judged(&app, &body).await;
    let batch = json!({"submissions": [body], "extra": true});
    let (status, answer) = call(&app, "POST", "/judge0/submissions/batch", Some(batch)).await;
    assert_eq!(status, 201, "{answer}");
}
