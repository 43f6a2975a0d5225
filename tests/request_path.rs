//! The request path before the key (in process, fake sandbox): what a client
//! without the key, a peer that is not the proxy, a client that stops
//! reading and a flood of connections can make the server do — each
//! asserted through the mechanism that bounds it.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::inprocess::{default_policy, default_state, fresh_key, languages, state, App, Fake};
use common::KEY;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use whipcode::api::installed::InstalledView;
use whipcode::listen::Policy;
use whipcode::sandbox::{
    BoxFuture, EngineError, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError,
};

const CLIENT_A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CLIENT_B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A TCP connection to `app` from the loopback address `from`.
async fn connect_from(app: &App, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], app.port())))
        .await
        .unwrap()
}

/// Everything the server sends until it closes, or until `within`.
async fn read_for(stream: &mut TcpStream, within: Duration) -> String {
    let mut text = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut text)).await;
    String::from_utf8_lossy(&text).into_owned()
}

/// The headers of a `POST /run` that announces a 900 KB body it never sends.
fn headers_without_body(key: Option<&str>) -> String {
    let key = key.map_or(String::new(), |k| format!("X-Master-Key: {k}\r\n"));
    format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 900000\r\nExpect: 100-continue\r\n{key}\r\n"
    )
}

fn status_of(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or_default()
}

/// POST /run from `from` with `key` and an empty JSON object: 400 once the
/// key is accepted.
async fn post_from(app: &App, from: Ipv4Addr, key: &str) -> Option<(u16, Value)> {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/run", app.url))
        .header("X-Master-Key", key)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .map_err(|e| eprintln!("post_from {from}: {e:?}"))
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unkeyed_request_is_refused_before_its_body_arrives() {
    let app = App::echo().await;
    let mut stream = connect_from(&app, CLIENT_A).await;
    stream
        .write_all(headers_without_body(None).as_bytes())
        .await
        .unwrap();
    // The server answers and closes without waiting for the 900 KB.
    let response = read_for(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), "401", "{response}");
    assert!(!response.contains("100 Continue"), "{response}");
    assert!(response.contains(r#""detail":"invalid or missing master key""#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_refused_before_its_body_arrives() {
    let app = App::echo().await;
    let mut stream = connect_from(&app, CLIENT_A).await;
    stream
        .write_all(headers_without_body(Some("not-the-key")).as_bytes())
        .await
        .unwrap();
    let response = read_for(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), "401", "{response}");
    assert!(!response.contains("100 Continue"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_before_the_body_reaches_a_client_that_sends_it_all_at_once() {
    let app = App::echo().await;
    for _ in 0..20 {
        let stream = connect_from(&app, CLIENT_A).await;
        let (mut read, mut write) = stream.into_split();
        let head =
            headers_without_body(Some("not-the-key")).replace("Expect: 100-continue\r\n", "");
        // Headers and the whole 900 KB body straight away, as most clients send them.
        let sender = tokio::spawn(async move {
            let _ = write.write_all(head.as_bytes()).await;
            let _ = write.write_all(&vec![b' '; 900_000]).await;
            write
        });
        let mut response = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut response)).await;
        let response = String::from_utf8_lossy(&response);
        assert_eq!(
            status_of(&response),
            "401",
            "the answer survived: {response:?}"
        );
        drop(sender.await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_right_key_gets_100_continue_and_its_body_read() {
    let app = App::echo().await;
    let mut stream = connect_from(&app, CLIENT_A).await;
    let body = br#"{"language_id": 1, "code": "eA==", "stdin": "hi"}"#;
    let head = format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nX-Master-Key: {KEY}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 25];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).await.unwrap();
    let response = read_for(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), "200", "{response}");
    assert!(response.contains(r#""stdout":"hi""#), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_wrong_keys_from_one_client_does_not_starve_another_clients_right_key() {
    // A freshly started server: the right key is not remembered yet.
    let key = fresh_key();
    let app_state = default_state(Arc::clone(&key), languages(), Arc::new(Fake::Echo));
    let app = Arc::new(App::start(app_state, false, Duration::from_secs(30)).await);
    let flood: Vec<_> = (0..400)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { post_from(&app, CLIENT_A, &format!("wrong-{i}")).await })
        })
        .collect();
    // While the flood is under way, it holds at most one place in the queue
    // of argon2 checks, however many requests it has in flight.
    let mut seen_flood = false;
    for _ in 0..200 {
        let inflight = key.checks_in_flight();
        assert!(inflight <= 1, "{inflight} of one client's keys queued");
        seen_flood |= inflight == 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(seen_flood, "the flood reached the key check");
    let (status, body) = post_from(&app, CLIENT_B, KEY).await.unwrap();
    assert_eq!(status, 400, "the right key is accepted: {body}");
    let mut throttled = 0;
    for task in flood {
        match task.await.unwrap() {
            Some((429, body)) => {
                assert!(body["detail"].as_str().unwrap().contains("key checks"));
                throttled += 1;
            }
            Some((401, _)) | None => {}
            other => panic!("a wrong key got {other:?}"),
        }
    }
    assert!(throttled > 0, "the flooding client is told to slow down");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_proxy_peer_gets_403_at_accept_without_being_read() {
    // Few slots, so that refusals taking one would show.
    let policy = Policy {
        proxy: Some(IpAddr::V4(CLIENT_B)),
        connections: 16,
        ..default_policy()
    };
    let app = App::serve(state(Fake::Echo), false, policy).await;
    // It has sent nothing, and gets the original's 403 with its JSON detail.
    let mut silent = connect_from(&app, CLIENT_A).await;
    let response = read_for(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), "403", "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let json: Value = serde_json::from_str(body).unwrap();
    assert!(json["detail"].as_str().unwrap().contains("proxy"));
    // An ordinary client that sends its request first reads it too.
    let (status, body) = post_from(&app, CLIENT_A, KEY).await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("proxy"));

    // 1000 non-proxy connections that stall take none of the proxy's slots.
    let mut stalled = Vec::new();
    for _ in 0..1000 {
        stalled.push(connect_from(&app, CLIENT_A).await);
    }
    let app = Arc::new(app);
    let many: Vec<_> = (0..8)
        .map(|_| {
            let app = Arc::clone(&app);
            async move { post_from(&app, CLIENT_B, KEY).await }
        })
        .collect();
    for answer in futures_join(many).await {
        let (status, body) = answer.expect("the proxy is served");
        assert_eq!(status, 400, "{body}");
    }
    drop(stalled);
}

async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_is_capped_in_connections_and_another_is_not() {
    let policy = Policy {
        per_client: 8,
        ..default_policy()
    };
    let app = App::serve(state(Fake::Echo), false, policy).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from(&app, CLIENT_A).await);
    }
    // The ninth from the same address is closed at once, unread.
    let mut ninth = connect_from(&app, CLIENT_A).await;
    let _ = ninth
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let response = read_for(&mut ninth, Duration::from_secs(5)).await;
    assert_eq!(response, "", "refused without an answer");
    let (status, _) = post_from(&app, CLIENT_B, KEY).await.unwrap();
    assert_eq!(status, 400, "another client is served");
    drop(held);
}

fn write_certificate(dir: &std::path::Path) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
}

/// `GET /ping` over TLS; the body, or the error.
async fn ping_tls(app: &App, ca: &std::path::Path) -> std::io::Result<String> {
    let config = whipcode::tls::client_config(ca).unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = connect_from(app, CLIENT_B).await;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tls.read_to_string(&mut text).await?;
    Ok(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_handshakes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    write_certificate(dir.path());
    let tls = whipcode::tls::server_config(dir.path()).unwrap();
    let policy = Policy {
        connections: 4,
        ..default_policy()
    };
    let app = App::serve_with(state(Fake::Echo), true, policy, Some(tls)).await;
    // Four connections that never start their handshake hold the four slots...
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(connect_from(&app, CLIENT_A).await);
    }
    // ...so a fifth gets no handshake task: it is closed on arrival.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(ping_tls(&app, &dir.path().join("cert.pem")).await.is_err());
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = ping_tls(&app, &dir.path().join("cert.pem")).await.unwrap();
    assert!(answer.ends_with("pong"), "{answer}");
}

/// A keyed `POST /run` sent from a socket with a receive buffer of
/// `bytes`; the response is left for the caller to read (or not).
async fn keyed_run_with_receive_buffer(app: &App, bytes: u32) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    let mut stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], app.port())))
        .await
        .unwrap();
    let body = r#"{"language_id": 1, "code": "eA=="}"#;
    let request = format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Master-Key: {KEY}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_loses_its_slot() {
    let policy = Policy {
        connections: 1,
        write: Duration::from_secs(1),
        ..default_policy()
    };
    // 64 MiB of output: far more than the sockets' buffers hold.
    let app = App::serve(state(Fake::Loud(64 << 20)), false, policy).await;
    let mut stuck = keyed_run_with_receive_buffer(&app, 4096).await;
    // It never reads. Its connection holds the only slot until the write
    // deadline passes; then another client is served.
    let mut served = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(answer) = post_from(&app, CLIENT_B, KEY).await {
            served = Some(answer);
            break;
        }
    }
    let (status, _) = served.expect("the slot came back");
    assert_eq!(status, 400);
    // What the stuck client can still read ends short of the 64 MiB.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stuck.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got < 64 << 20, "read {got} bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_reads_a_little_now_and_then_cannot_hold_a_response_for_ever() {
    let mut app_state = state(Fake::Loud(64 << 20));
    app_state.response_deadline = Duration::from_secs(1);
    let app = App::serve(app_state, false, default_policy()).await;
    let mut slow = keyed_run_with_receive_buffer(&app, 64 * 1024).await;
    // The client keeps reading (the write deadline of 30 s never passes),
    // just slowly: only the response's own deadline can end this early.
    let started = std::time::Instant::now();
    let mut got = 0usize;
    // ~1.3 MB/s: 64 MiB would take ~50 s.
    let mut buf = vec![0u8; 64 * 1024];
    while started.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match slow.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended by the deadline"
    );
    assert!(got < 64 << 20, "read {got} bytes");
}

/// A sandbox whose engine fails with a message that must stay in the log.
struct BrokenEngine;

impl Sandbox for BrokenEngine {
    fn run(&self, _spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async { Ok(RunOutcome::default()) })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async {
            Err(SandboxError::Engine(EngineError::failed(
                "dial unix /secret/podman.sock: refused",
            )))
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_says_what_is_wrong_without_the_engines_own_text() {
    let app_state = default_state(fresh_key(), languages(), Arc::new(BrokenEngine));
    let app = App::start(app_state, false, Duration::from_secs(30)).await;
    let response = reqwest::get(format!("{}/ready", app.url)).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["podman"], false);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("podman is not answering"), "{body}");
    assert!(!detail.contains("secret"), "{body}");
}

/// A sandbox whose image listing is counted and slow (so that requests overlap).
#[derive(Default)]
struct CountedImages {
    asked: AtomicUsize,
}

impl Sandbox for CountedImages {
    fn run(&self, _spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async { Ok(RunOutcome::default()) })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async {
            self.asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Vec::new())
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn languages_and_ready_ask_podman_at_most_once_per_interval() {
    let sandbox = Arc::new(CountedImages::default());
    let mut app_state = default_state(fresh_key(), languages(), Arc::clone(&sandbox) as _);
    app_state.images = Arc::new(InstalledView::new(Duration::from_secs(4)));
    let app = Arc::new(App::start(app_state, false, Duration::from_secs(30)).await);
    let probe = |path: &'static str| {
        let app = Arc::clone(&app);
        async move {
            let response = reqwest::Client::new()
                .get(format!("{}{path}", app.url))
                .header("X-Master-Key", KEY)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    // A client that goes away mid-question does not cancel it: the
    // requests after it get its answer, not a question of their own.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    assert!(impatient
        .get(format!("{}/ready", app.url))
        .send()
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst = |n| {
        let mut all = Vec::new();
        for i in 0..n {
            all.push(probe(if i % 2 == 0 { "/ready" } else { "/languages" }));
        }
        futures_join(all)
    };
    for status in burst(60).await {
        assert!(status == 200 || status == 503, "{status}");
    }
    assert_eq!(
        sandbox.asked.load(Ordering::SeqCst),
        1,
        "one question for 60"
    );
    tokio::time::sleep(Duration::from_millis(4100)).await;
    burst(20).await;
    assert_eq!(
        sandbox.asked.load(Ordering::SeqCst),
        2,
        "and one per interval"
    );
}
