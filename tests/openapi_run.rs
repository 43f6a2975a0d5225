//! `POST /run`'s request schema in `/openapi.json` and its parser agree
//! (in-process, a fake sandbox that echoes): the schema's properties are
//! exactly the original whipcode's fields and our two additions, a body
//! built from the schema alone (every property, a valid value of its type,
//! each alternative of a `oneOf`) is run, by `/run` and by whipcode's
//! interactive `init` on `/connect`, and a field the schema does not know is
//! ignored, as the original does.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::Request;
use common::inprocess::{state, App, Fake};
use common::schema::resolved;
use common::KEY;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};
use tower::ServiceExt as _;

/// The original whipcode's fields (its README's request table).
const ORIGINAL: [&str; 6] = ["code", "language_id", "args", "timeout", "stdin", "env"];
/// Ours, documented as added.
const ADDED: [&str; 2] = ["files", "compile_timeout"];

async fn document() -> Value {
    let response = whipcode::api::router(state(Fake::Echo), false)
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `/run`'s request body schema, resolved.
fn run_body(doc: &Value) -> &Value {
    let body = &doc["paths"]["/run"]["post"]["requestBody"]["content"]["application/json"];
    resolved(doc, &body["schema"])
}

/// A valid value of `schema`, knowing only the schema: every property of an
/// object, one item of a list, alternative `choice` of a `oneOf` (wrapping).
/// A string is `eA==` (base64 of `x`; also a fine path, flag, or value), a
/// string of digits `1`, an integer 1.
fn value_of(doc: &Value, schema: &Value, choice: usize) -> Value {
    let schema = resolved(doc, schema);
    if let Some(alternatives) = schema["oneOf"].as_array() {
        return value_of(doc, &alternatives[choice % alternatives.len()], choice);
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut object = Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                object.insert(name.clone(), value_of(doc, property, choice));
            }
            if let Some(values) = schema.get("additionalProperties") {
                object.insert("WHIPCODE_TEST".into(), value_of(doc, values, choice));
            }
            Value::Object(object)
        }
        Some("array") => json!([value_of(doc, &schema["items"], choice)]),
        Some("integer") => json!(1),
        Some("string") => match schema["pattern"].as_str() {
            Some(pattern) => {
                assert!(
                    pattern.starts_with("^[0-9]"),
                    "{pattern}: not a digit string"
                );
                json!("1")
            }
            None => json!("eA=="),
        },
        other => panic!("no value for a schema of type {other:?}: {schema}"),
    }
}

async fn post_run(body: &Value) -> (u16, Value) {
    let response = whipcode::api::router(state(Fake::Echo), false)
        .oneshot(
            Request::post("/run")
                .header("x-master-key", KEY)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_run_schema_names_the_originals_fields_and_our_additions_only() {
    let doc = document().await;
    let schema = run_body(&doc);
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = ORIGINAL.into_iter().chain(ADDED).collect();
    assert_eq!(properties, expected);
    assert_eq!(schema["required"], json!(["code", "language_id"]));
    for added in ADDED {
        let description = schema["properties"][added]["description"].as_str();
        assert!(description.unwrap().starts_with("Added:"), "{added}");
    }
}

#[tokio::test]
async fn a_body_built_from_the_run_schema_is_run_in_each_of_its_forms() {
    let doc = document().await;
    for choice in [0, 1] {
        let body = value_of(&doc, run_body(&doc), choice);
        let properties = run_body(&doc)["properties"].as_object().unwrap();
        assert_eq!(body.as_object().unwrap().len(), properties.len());
        let (status, answer) = post_run(&body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        // The fake echoes stdin as stdout and the entry file as stderr.
        assert_eq!(answer["stdout"], "eA==", "{body}: {answer}");
        assert_eq!(answer["stderr"], "x", "{body}: {answer}");
        assert_eq!(answer["exit_code"], 0);
    }
}

#[tokio::test]
async fn a_field_the_run_schema_does_not_know_is_ignored_as_the_original_does() {
    let doc = document().await;
    let mut body = value_of(&doc, run_body(&doc), 0);
    let (_, plain) = post_run(&body).await;
    for (name, value) in [
        ("unknown", json!({"a": [1, null]})),
        ("Code", json!(5)),
        ("language", json!("python")),
    ] {
        body[name] = value;
        let (status, answer) = post_run(&body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer["stdout"], plain["stdout"]);
        assert_eq!(answer["stderr"], plain["stderr"]);
    }
}

#[tokio::test]
async fn whipcodes_interactive_init_takes_the_same_body() {
    let doc = document().await;
    let app = App::echo().await;
    for choice in [0, 1] {
        let mut init = value_of(&doc, run_body(&doc), choice);
        init["type"] = json!("init");
        init["unknown"] = json!(true);
        let url = format!("ws://127.0.0.1:{}/connect", app.port());
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-master-key", KEY.parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        socket.send(Message::text(init.to_string())).await.unwrap();
        let first = loop {
            match socket.next().await.unwrap().unwrap() {
                Message::Text(text) => break serde_json::from_str::<Value>(&text).unwrap(),
                Message::Close(frame) => panic!("{init}: closed: {frame:?}"),
                _ => continue,
            }
        };
        assert_eq!(first["type"], "runtime", "{init}: {first}");
        assert_eq!(first["language_id"], 1, "{init}: {first}");
    }
    app.stop().await;
}
