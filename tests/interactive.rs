//! Interactive runs over a WebSocket (`GET /api/v2/connect`, Piston's
//! protocol) on real podman, through nginx configured by the deployment
//! example: a prompt answered line by line, each answer before the next
//! line is sent; a compiled language's stages; signals; closing stdin;
//! closing the socket mid-run; an output flood; and the close codes.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::{Duration, Instant};

use common::gateway::{gateway_test, Gateway};
use common::Service;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(gateway: &Gateway) -> Socket {
    let url = gateway.url.replace("http://", "ws://") + "/api/v2/connect";
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn say(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next message: JSON, or the close code (as `{"close": code}`).
async fn hear(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s");
        match next {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                return json!({"close": frame.map(|f| u16::from(f.code))})
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return json!({"close": null, "error": e.to_string()}),
            None => return json!({"close": null}),
        }
    }
}

/// Messages until the close; the close code last.
async fn rest(socket: &mut Socket) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let message = hear(socket).await;
        let done = message.get("close").is_some();
        all.push(message);
        if done {
            return all;
        }
    }
}

/// Reads stdout into `heard` until it starts with `text`, and takes `text`
/// off it (a chunk may carry the next output with it).
async fn until(socket: &mut Socket, heard: &mut String, text: &str) {
    while heard.len() < text.len() {
        let message = hear(socket).await;
        assert_eq!(message["stream"], "stdout", "{message}");
        heard.push_str(message["data"].as_str().unwrap());
    }
    assert!(
        heard.starts_with(text),
        "{heard:?} should start with {text:?}"
    );
    heard.drain(..text.len());
}

fn stdout_of(messages: &[Value]) -> String {
    messages
        .iter()
        .filter(|m| m["type"] == "data" && m["stream"] == "stdout")
        .map(|m| m["data"].as_str().unwrap())
        .collect()
}

fn init(language: &str, code: &str, extra: Value) -> Value {
    let mut init = json!({"type": "init", "language": language, "version": "*",
                          "files": [{"content": code}]});
    init.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    init
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_session_answers_each_line_before_the_next_is_sent() {
    let _podman = gateway_test();
    let svc = Service::start(&["--proxy", "127.0.0.1"]);
    let gateway = Gateway::start(svc.port());

    let mut socket = open(&gateway).await;
    let program = "while True:\n    print('name?', flush=True)\n    line = input()\n    print('hello ' + line, flush=True)";
    say(&mut socket, init("python", program, json!({}))).await;
    let runtime = hear(&mut socket).await;
    assert_eq!(runtime["type"], "runtime", "{runtime}");
    assert_eq!(runtime["language"], "python");
    assert_eq!(
        hear(&mut socket).await,
        json!({"type": "stage", "stage": "run"})
    );
    let mut heard = String::new();
    for name in ["ada", "grace", "linus"] {
        // The prompt arrives before anything is sent: output is live.
        until(&mut socket, &mut heard, "name?\n").await;
        assert_eq!(heard, "", "nothing but the prompt yet");
        say(
            &mut socket,
            json!({"type": "data", "stream": "stdin", "data": format!("{name}\n")}),
        )
        .await;
        until(&mut socket, &mut heard, &format!("hello {name}\n")).await;
    }
    // Closing stdin ends a program that reads to its end.
    say(&mut socket, json!({"type": "eof"})).await;
    let tail = rest(&mut socket).await;
    let exit = tail.iter().find(|m| m["type"] == "exit").expect("an exit");
    assert_eq!(exit["stage"], "run");
    assert_eq!(exit["code"], 1, "EOFError: {tail:?}");
    assert_eq!(tail.last().unwrap()["close"], 4999);

    // A compiled language: the compile stage's messages, then the run's.
    let mut socket = open(&gateway).await;
    let c = "#include <stdio.h>\nint main(void){ char b[64]; if (fgets(b, 64, stdin)) printf(\"got %s\", b); return 0; }";
    say(&mut socket, init("c", c, json!({}))).await;
    assert_eq!(hear(&mut socket).await["type"], "runtime");
    assert_eq!(
        hear(&mut socket).await,
        json!({"type": "stage", "stage": "compile"})
    );
    let exit = hear(&mut socket).await;
    assert_eq!(
        exit,
        json!({"type": "exit", "stage": "compile", "code": 0, "signal": null})
    );
    assert_eq!(
        hear(&mut socket).await,
        json!({"type": "stage", "stage": "run"})
    );
    say(
        &mut socket,
        json!({"type": "data", "stream": "stdin", "data": "x\n"}),
    )
    .await;
    let tail = rest(&mut socket).await;
    assert_eq!(stdout_of(&tail), "got x\n", "{tail:?}");
    assert_eq!(tail.last().unwrap()["close"], 4999);
    drop(gateway);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn signals_reach_the_program_and_a_closed_socket_ends_the_run() {
    let _podman = gateway_test();
    let svc = Service::start(&["--proxy", "127.0.0.1"]);
    let gateway = Gateway::start(svc.port());
    let sleeper = "import time\nprint('up', flush=True)\ntime.sleep(60)";
    for (signal, number) in [("SIGTERM", 15), ("SIGKILL", 9)] {
        let mut socket = open(&gateway).await;
        say(&mut socket, init("python", sleeper, json!({}))).await;
        assert_eq!(hear(&mut socket).await["type"], "runtime");
        assert_eq!(hear(&mut socket).await["type"], "stage");
        assert_eq!(hear(&mut socket).await["data"], "up\n");
        let sent = Instant::now();
        say(&mut socket, json!({"type": "signal", "signal": signal})).await;
        let tail = rest(&mut socket).await;
        let exit = tail.iter().find(|m| m["type"] == "exit").expect("an exit");
        assert_eq!(exit["signal"], signal, "{tail:?}");
        assert!(sent.elapsed() < Duration::from_secs(5), "{number}");
        assert_eq!(tail.last().unwrap()["close"], 4999);
    }

    // Closing the socket mid-run removes the container within seconds.
    let mut socket = open(&gateway).await;
    say(&mut socket, init("python", sleeper, json!({}))).await;
    assert_eq!(hear(&mut socket).await["type"], "runtime");
    assert_eq!(hear(&mut socket).await["type"], "stage");
    assert_eq!(hear(&mut socket).await["data"], "up\n");
    let busy = common::instance_containers(&svc.instance);
    socket.close(None).await.unwrap();
    drop(socket);
    let until = Instant::now() + Duration::from_secs(10);
    let mut left = busy.clone();
    while Instant::now() < until {
        let now = common::instance_containers(&svc.instance);
        left = busy.iter().filter(|c| now.contains(c)).cloned().collect();
        if left.len() < busy.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        left.len() < busy.len(),
        "the running container was removed: {busy:?} → {left:?}"
    );
    drop(gateway);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn floods_and_protocol_errors_get_their_close_codes() {
    let _podman = gateway_test();
    let svc = Service::start(&["--proxy", "127.0.0.1", "--output-limit", "65536"]);
    let gateway = Gateway::start(svc.port());

    // An output flood: capped, and the exit says why before the close.
    let mut socket = open(&gateway).await;
    say(
        &mut socket,
        init("python", "while True:\n    print('x' * 1000)", json!({})),
    )
    .await;
    let all = rest(&mut socket).await;
    let out = stdout_of(&all);
    assert!(
        out.len() <= 65536 && out.len() > 1000,
        "capped: {}",
        out.len()
    );
    let exit = all.iter().find(|m| m["type"] == "exit").expect("an exit");
    assert_eq!(exit["status"], "OL", "{exit}");
    assert_eq!(exit["message"], "stdout length exceeded");
    assert_eq!(all.last().unwrap()["close"], 4999);

    // init late, twice; data before init; writing to stdout; a bad signal.
    let mut socket = open(&gateway).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hear(&mut socket).await["close"], 4001);

    let mut socket = open(&gateway).await;
    say(
        &mut socket,
        json!({"type": "data", "stream": "stdin", "data": "x"}),
    )
    .await;
    assert_eq!(hear(&mut socket).await["close"], 4003);

    let waiting = "input()";
    for (second, code) in [
        (init("python", waiting, json!({})), 4000),
        (
            json!({"type": "data", "stream": "stdout", "data": "x"}),
            4004,
        ),
        (json!({"type": "signal", "signal": "SIGNOPE"}), 4005),
    ] {
        let mut socket = open(&gateway).await;
        say(&mut socket, init("python", waiting, json!({}))).await;
        assert_eq!(hear(&mut socket).await["type"], "runtime");
        say(&mut socket, second).await;
        let tail = rest(&mut socket).await;
        assert_eq!(tail.last().unwrap()["close"], code, "{tail:?}");
    }

    // A browser's upgrade (it sends an Origin) with the key the gateway adds
    // is refused: a page anywhere would be running code with the key.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            (gateway.url.replace("http://", "ws://") + "/api/v2/connect").as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://elsewhere.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403)
        }
        other => panic!("a cross-site upgrade was not refused: {other:?}"),
    }

    // A bad init: Piston's message, then 4002.
    let mut socket = open(&gateway).await;
    say(&mut socket, json!({"type": "init", "language": "python"})).await;
    let error = hear(&mut socket).await;
    assert_eq!(
        error,
        json!({"type": "error", "message": "version is required as a string"})
    );
    assert_eq!(hear(&mut socket).await["close"], 4002);
    drop(gateway);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_opens_a_session_with_a_ticket_instead_of_the_key() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let _podman = common::podman_test();
    // No gateway: the page talks to the service itself, holding no key.
    let svc = Service::start(&[]);
    let ws = svc.url.replace("http://", "ws://") + "/api/v2/connect";
    let (status, minted) = common::post_json(
        &format!("{}/tickets", svc.url),
        Some(common::KEY),
        &json!({}),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    assert_eq!(minted["scope"], "interactive");
    assert_eq!(minted["expires_in"], 300);
    let ticket = minted["ticket"].as_str().unwrap().to_owned();
    let (status, _) = common::post_json(&format!("{}/tickets", svc.url), None, &json!({})).await;
    assert_eq!(status, 401, "minting takes the key");

    let hello = init("python", "print('hi')", json!({}));
    // As a subprotocol, beside `whipcode`, which the server selects.
    let mut request = ws.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("whipcode, whipcode.ticket.{ticket}")
            .parse()
            .unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "whipcode",
        "the ticket is not echoed"
    );
    say(&mut socket, hello.clone()).await;
    let all = rest(&mut socket).await;
    assert_eq!(stdout_of(&all), "hi\n", "{all:?}");
    assert_eq!(all.last().unwrap()["close"], 4999);

    // In init.
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let mut with_ticket = hello.clone();
    with_ticket["ticket"] = json!(ticket);
    say(&mut socket, with_ticket).await;
    let all = rest(&mut socket).await;
    assert_eq!(stdout_of(&all), "hi\n", "{all:?}");

    // Neither: nothing runs.
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    say(&mut socket, hello.clone()).await;
    let error = hear(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("needs the master key (X-Master-Key) or a ticket"),
        "{error}"
    );
    assert_eq!(hear(&mut socket).await["close"], 4002);

    // A forged ticket is refused at the upgrade.
    let mut request = ws.as_str().into_client_request().unwrap();
    let forged = format!("{}x", &ticket[..ticket.len() - 1]);
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("whipcode, whipcode.ticket.{forged}")
            .parse()
            .unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("a forged ticket was not refused: {other:?}"),
    }
    // A ticket is not the key: it opens nothing else.
    let body = json!({"language_id": 1, "code": common::b64("print(1)")});
    let (status, _) = common::post_json(&format!("{}/run", svc.url), Some(&ticket), &body).await;
    assert_eq!(status, 401);
    svc.stop_and_check_clean();
}

/// The server's resident memory, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_is_cut_off_without_the_server_growing() {
    let _podman = common::podman_test();
    // A cap far above what is written: only back-pressure can bound it.
    let svc = Service::start(&["--output-limit", "1073741824", "--timeout", "4"]);
    let ws = svc.url.replace("http://", "ws://") + "/api/v2/connect";
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws.as_str())
            .unwrap();
    request
        .headers_mut()
        .insert("x-master-key", common::KEY.parse().unwrap());
    let before = rss_kib(svc.pid());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // 500 MB of output, of which the client reads nothing.
    let flood =
        "import sys\nchunk = 'x' * 65536\nfor _ in range(8000):\n    sys.stdout.write(chunk)";
    say(&mut socket, init("python", flood, json!({}))).await;
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        peak = peak.max(rss_kib(svc.pid()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        peak < before + 40 * 1024,
        "the server's memory grew from {before} KiB to {peak} KiB"
    );
    // The run's 4 s ended it: what the client now reads is what the program
    // could write while blocked (far below its 500 MB), then the end.
    let all = rest(&mut socket).await;
    let written = stdout_of(&all).len();
    assert!(written < 64 << 20, "{written} bytes were sent");
    let exit = all.iter().find(|m| m["type"] == "exit").expect("an exit");
    assert_eq!(exit["status"], "TO", "{exit}");
    assert_eq!(all.last().unwrap()["close"], 4999);
    drop(socket);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn whipcodes_own_request_shape_opens_the_same_session_on_connect() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            (svc.url.replace("http://", "ws://") + "/connect").as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("x-master-key", common::KEY.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request.clone())
        .await
        .unwrap();
    let code = common::b64("print('got', input())");
    say(
        &mut socket,
        json!({"type": "init", "language_id": 1, "code": code}),
    )
    .await;
    assert_eq!(
        hear(&mut socket).await,
        json!({"type": "runtime", "language": "Python", "language_id": 1})
    );
    assert_eq!(hear(&mut socket).await["stage"], "run");
    say(
        &mut socket,
        json!({"type": "data", "stream": "stdin", "data": "it\n"}),
    )
    .await;
    let all = rest(&mut socket).await;
    assert_eq!(stdout_of(&all), "got it\n", "{all:?}");
    assert_eq!(all.last().unwrap()["close"], 4999);

    // whipcode's validation, in the session's error message.
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    say(
        &mut socket,
        json!({"type": "init", "language_id": 999, "code": code}),
    )
    .await;
    let error = hear(&mut socket).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("language_id 999 is not one of"),
        "{error}"
    );
    assert_eq!(hear(&mut socket).await["close"], 4002);
    svc.stop_and_check_clean();
}
