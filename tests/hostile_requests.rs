//! Hostile requests against the service's listener and router (in process,
//! with a fake sandbox: none of this reaches a container): each gets a clear
//! 4xx (with a `detail` where it reaches the API) or is cut off; none
//! crashes the server or gets a 500, and the server answers normally
//! afterwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::inprocess::{App, Fake};
use common::{b64, Service, KEY};
use serde_json::{json, Value};

/// POST /run with the key and this raw body.
async fn post(svc: &App, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = Service::client()
        .post(format!("{}/run", svc.url))
        .header("X-Master-Key", KEY)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_refused(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "{what}: no detail in {body}");
}

/// The server still answers a cheap request.
async fn still_up(svc: &App) {
    let (status, body) = post(svc, "{}").await;
    assert_eq!(status, 400, "server still answers: {body}");
}

fn connect(svc: &App) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", svc.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection or answers; what it sent.
fn read_all(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// The service in process started with `--client-timeout seconds`.
async fn with_client_timeout(seconds: u64) -> App {
    App::from_flags(&["--client-timeout", &seconds.to_string()], Fake::Echo).await
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_in_every_field_are_400_with_a_detail() {
    let svc = App::echo().await;
    let code = b64("print(1)");
    let cases = [
        json!({"language_id": {"id": 1}, "code": code}),
        json!({"language_id": [1], "code": code}),
        json!({"language_id": 1.5, "code": code}),
        json!({"language_id": "1; rm -rf /", "code": code}),
        json!({"language_id": 1, "code": 12}),
        json!({"language_id": 1, "code": "!!not base64!!"}),
        json!({"language_id": 1, "code": code, "args": ["-O"]}),
        json!({"language_id": 1, "code": code, "timeout": true}),
        json!({"language_id": 1, "code": code, "timeout": -1}),
        json!({"language_id": 1, "code": code, "timeout": "-5"}),
        json!({"language_id": 1, "code": code, "timeout": 1e300}),
        json!({"language_id": 1, "code": code, "timeout": "99999999999999999999999"}),
        json!({"language_id": 1, "code": code, "stdin": 5}),
        json!({"language_id": 1, "code": code, "stdin": {"a": 1}}),
        json!({"language_id": 1, "code": code, "env": ["A=1"]}),
        json!({"language_id": 1, "code": code, "env": {"A": 1}}),
        json!({"language_id": 1, "code": code, "env": {"1BAD": "x"}}),
        json!({"language_id": 1, "code": code, "env": {"A=B": "x"}}),
        json!({"language_id": 1, "code": code, "env": {"": "x"}}),
        json!({"language_id": 1, "code": code, "env": {"A": "nul\u{0}inside"}}),
        json!({"language_id": 1, "code": code, "env": {"PATH": "/evil"}}),
        json!({"language_id": 1, "code": code, "args": "nul\u{0}arg"}),
        json!([1, 2, 3]),
        json!("a string"),
        json!(null),
    ];
    for case in cases {
        let (status, body) = post(&svc, case.to_string()).await;
        assert_refused(status, &body, &case.to_string());
    }
    still_up(&svc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_or_malformed_json_is_400_not_a_crash() {
    let svc = App::from_flags(&["-b", "4000000"], Fake::Echo).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body) = post(&svc, deep).await;
    assert_refused(status, &body, "100 000 nested arrays");
    let deep_object = format!(
        "{{\"language_id\":1,\"code\":\"eA==\",\"env\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let (status, body) = post(&svc, deep_object).await;
    assert_refused(status, &body, "deep env");
    for junk in [
        &b"\xff\xfe\x00garbage"[..],
        b"{\"language_id\":1,\"code\":\"eA==\"",
        b"{\"language_id\":1,,}",
        b"",
    ] {
        let (status, body) = post(&svc, junk.to_vec()).await;
        assert_refused(status, &body, &String::from_utf8_lossy(junk));
    }
    still_up(&svc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn giant_headers_are_refused_and_the_server_stays_up() {
    let svc = App::echo().await;
    let huge = "x".repeat(512 * 1024);
    let mut stream = connect(&svc);
    let request =
        format!("POST /run HTTP/1.1\r\nHost: a\r\nX-Junk: {huge}\r\nContent-Length: 2\r\n\r\n{{}}");
    let _ = stream.write_all(request.as_bytes());
    let answer = read_all(&mut stream);
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 431")
            || answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    let mut many = String::from("POST /run HTTP/1.1\r\nHost: a\r\n");
    for i in 0..2000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Content-Length: 2\r\n\r\n{}");
    let mut stream = connect(&svc);
    let _ = stream.write_all(many.as_bytes());
    let answer = read_all(&mut stream);
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
    still_up(&svc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stalls_in_its_headers_is_cut_off() {
    let svc = with_client_timeout(2).await;
    let mut stream = connect(&svc);
    stream
        .write_all(b"POST /run HTTP/1.1\r\nHost: a\r\n")
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut stream);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "closed after {waited:?}: {answer}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    still_up(&svc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stalls_in_its_body_gets_408() {
    let svc = with_client_timeout(2).await;
    let mut stream = connect(&svc);
    let head = format!(
        "POST /run HTTP/1.1\r\nHost: a\r\nX-Master-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"lang"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let answer = read_all(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("detail"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    still_up(&svc).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_flood_does_not_stop_real_clients() {
    let svc = with_client_timeout(5).await;
    // 300 connections from one address that never send a byte: beyond that
    // client's cap they are closed on arrival, the rest time out.
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(&svc)).collect();
    let started = Instant::now();
    // A real client on another address is served at once.
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/run", svc.url))
        .header("X-Master-Key", KEY)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(idle);
}
