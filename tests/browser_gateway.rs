//! The gateway contract for browsers (in process, with a sandbox that
//! counts its runs): a ticket opens sessions only from the origin of the
//! page it was minted for; and through nginx configured by the deployment
//! example, only that page's POST /tickets gets the key, a ticket wins over
//! the key the gateway adds to a browser's upgrade, a page of the gateway's
//! own origin reaches Judge0's API and another page does not, and
//! `/metrics` answers the operator's address only. The same through HAProxy
//! configured by its deployment example (`deploy/haproxy-whipcode.cfg`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::gateway::{nginx_test, Gateway, PAGE_ORIGIN};
use common::haproxy::behind_haproxy;
use common::inprocess::{state, App, Fake};
use common::KEY;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error, Message};

const ELSEWHERE: &str = "https://elsewhere.example";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An app whose every language is installed, so that it is ready as
/// HAProxy's checks see it.
async fn ready_app() -> (App, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let state = state(Fake::Installed(Arc::clone(&runs)));
    (
        App::start(state, false, Duration::from_secs(30)).await,
        runs,
    )
}

async fn app() -> (App, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let state = state(Fake::Counting(Arc::clone(&runs)));
    (
        App::start(state, false, Duration::from_secs(30)).await,
        runs,
    )
}

/// POST /tickets at `base` from `origin`, with `key` if given: the status
/// and the ticket, if one was minted.
async fn mint_at(base: &str, origin: Option<&str>, key: Option<&str>) -> (u16, Option<String>) {
    mint_from(base, origin.as_slice(), key).await
}

/// As [`mint_at`], the request carrying an `Origin` header for each of
/// `origins`, in order.
async fn mint_from(base: &str, origins: &[&str], key: Option<&str>) -> (u16, Option<String>) {
    let mut request = reqwest::Client::new().post(format!("{base}/tickets"));
    for origin in origins {
        request = request.header("origin", *origin);
    }
    if let Some(key) = key {
        request = request.header("x-master-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["ticket"].as_str().map(str::to_owned))
}

/// The upgrade of `/connect` at `base` from `origin`, the ticket offered
/// as a subprotocol when given: the socket, or the refusal's status and body.
async fn connect(
    base: &str,
    origin: Option<&str>,
    ticket: Option<&str>,
) -> Result<Socket, (u16, String)> {
    let url = base.replace("http://", "ws://") + "/connect";
    let mut request = url.as_str().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    if let Some(ticket) = ticket {
        let offered = format!("whipcode, whipcode.ticket.{ticket}");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", offered.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
        Err(e) => panic!("the upgrade failed: {e}"),
    }
}

/// whipcode's `init` for a Python program, with `ticket` in it if given.
fn init(ticket: Option<&str>) -> Message {
    let mut init = json!({"type": "init", "language_id": 1, "code": common::b64("print(1)")});
    if let Some(ticket) = ticket {
        init["ticket"] = json!(ticket);
    }
    Message::Text(init.to_string().into())
}

/// The session's first message.
async fn first(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        if let Some(Ok(Message::Text(text))) = next {
            return serde_json::from_str(&text).unwrap();
        }
        assert!(
            matches!(next, Some(Ok(_))),
            "the socket ended first: {next:?}"
        );
    }
}

/// `socket`'s session started with `init`: its first message is `runtime`.
async fn starts(mut socket: Socket, init: Message) {
    socket.send(init).await.unwrap();
    assert_eq!(first(&mut socket).await["type"], "runtime");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_from_another_origin_is_refused() {
    let (app, runs) = app().await;
    let (status, ticket) = mint_at(&app.url, Some(PAGE_ORIGIN), Some(KEY)).await;
    assert_eq!(status, 201);
    let ticket = ticket.unwrap();
    // Two Origins are no origin to bind a ticket to, even with the key.
    let (status, none) = mint_from(&app.url, &[ELSEWHERE, PAGE_ORIGIN], Some(KEY)).await;
    assert_eq!((status, none), (400, None));

    // At the upgrade: from another page, and from no page at all.
    for origin in [Some(ELSEWHERE), None] {
        let Err((status, body)) = connect(&app.url, origin, Some(&ticket)).await else {
            panic!("{origin:?}: a page's ticket opened a session elsewhere");
        };
        assert_eq!(status, 403, "{origin:?}: {body}");
        let expected = format!("the ticket was issued to a page of {PAGE_ORIGIN}");
        assert!(body.contains(&expected), "{body}");
    }
    // In init: refused before anything runs.
    let mut socket = connect(&app.url, Some(ELSEWHERE), None).await.unwrap();
    socket.send(init(Some(&ticket))).await.unwrap();
    let error = first(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("comes from {ELSEWHERE}")),
        "{error}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");

    // From its own page it opens a session, in either place.
    let socket = connect(&app.url, Some(PAGE_ORIGIN), Some(&ticket)).await;
    starts(socket.unwrap(), init(None)).await;
    let socket = connect(&app.url, Some(PAGE_ORIGIN), None).await;
    starts(socket.unwrap(), init(Some(&ticket))).await;
    // A ticket minted by a server holding the key (no Origin) is its to hand out.
    let (_, unbound) = mint_at(&app.url, None, Some(KEY)).await;
    let socket = connect(&app.url, Some(ELSEWHERE), unbound.as_deref()).await;
    starts(socket.unwrap(), init(None)).await;
}

#[ignore = "needs nginx (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_only_the_pages_origin_gets_a_ticket() {
    nginx_test();
    let (app, _) = app().await;
    let gateway = Gateway::start(app.port());
    only_the_pages_origin_gets_a_ticket(&gateway.url).await;
}

#[ignore = "needs haproxy (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_haproxy_only_the_pages_origin_gets_a_ticket() {
    let (app, _) = ready_app().await;
    let balancer = behind_haproxy(app.port());
    only_the_pages_origin_gets_a_ticket(&balancer.url).await;
}

async fn only_the_pages_origin_gets_a_ticket(front: &str) {
    let (status, ticket) = mint_at(front, Some(PAGE_ORIGIN), None).await;
    assert_eq!(status, 201, "the page's origin gets the key");
    assert_eq!(mint_at(front, Some(ELSEWHERE), None).await.0, 401);
    // A second Origin naming the page does not pass a first one naming
    // another site (the one whipcode would read).
    let (status, ticket_elsewhere) = mint_from(front, &[ELSEWHERE, PAGE_ORIGIN], None).await;
    assert!(
        status == 401 && ticket_elsewhere.is_none(),
        "two origins: {status}"
    );
    assert_eq!(mint_at(front, None, None).await.0, 401);
    let (status, _) = mint_at(front, None, Some(KEY)).await;
    assert_eq!(status, 201, "a server holding the key keeps it");
    assert_eq!(
        mint_at(front, None, Some("not-the-key")).await.0,
        401,
        "and one that does not is refused"
    );

    // The gateway adds the key to every upgrade; a page's ticket wins.
    let ticket = ticket.unwrap();
    let socket = connect(front, Some(PAGE_ORIGIN), Some(&ticket)).await;
    starts(socket.unwrap(), init(None)).await;
    let refused = connect(front, Some(ELSEWHERE), Some(&ticket)).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    let refused = connect(front, Some(PAGE_ORIGIN), None).await;
    assert_eq!(
        refused.err().map(|(status, _)| status),
        Some(403),
        "a browser never runs on the gateway's key"
    );
}

#[ignore = "needs nginx (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_no_page_runs_code_with_its_key() {
    nginx_test();
    let (app, runs) = app().await;
    let gateway = Gateway::start(app.port());
    no_page_runs_code_with_its_key(&gateway.url, runs).await;
}

#[ignore = "needs haproxy (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_haproxy_no_page_runs_code_with_its_key() {
    let (app, runs) = ready_app().await;
    let balancer = behind_haproxy(app.port());
    no_page_runs_code_with_its_key(&balancer.url, runs).await;
}

async fn no_page_runs_code_with_its_key(front: &str, runs: Arc<AtomicUsize>) {
    // What a page elsewhere sends, and what a page sends that pointed its
    // own host name at the gateway's address (DNS rebinding): to the
    // browser it is then of the gateway's own origin.
    let host = front.trim_start_matches("http://").to_owned();
    let rebound = [
        ("origin", front.to_owned()),
        ("sec-fetch-site", "same-origin".to_owned()),
        ("host", host),
    ];
    let elsewhere = [("origin", ELSEWHERE.to_owned())];
    let bodies = [
        (
            "/judge0/submissions?wait=true",
            json!({"language_id": 71, "source_code": "print(1)"}),
        ),
        ("/run", json!({"language_id": 1, "code": "cHJpbnQoMSk="})),
        (
            "/api/v2/execute",
            json!({"language": "python", "version": "*", "files": [{"content": "print(1)"}]}),
        ),
    ];
    for headers in [&rebound[..], &elsewhere[..]] {
        for (path, body) in &bodies {
            let mut request = reqwest::Client::new().post(format!("{front}{path}"));
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let status = request.json(body).send().await.unwrap().status().as_u16();
            assert_eq!(status, 403, "{path} from {headers:?}");
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");
    // A client that is no browser runs, the gateway adding the key.
    let (path, body) = &bodies[0];
    let url = format!("{front}{path}");
    let answer = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[ignore = "needs nginx (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_metrics_answer_the_operators_address_only() {
    nginx_test();
    let (app, _) = app().await;
    let gateway = Gateway::start(app.port());
    metrics_answer_the_operators_address_only(&gateway.url).await;
}

#[ignore = "needs haproxy (./task test installs it)"]
#[tokio::test(flavor = "multi_thread")]
async fn through_haproxy_metrics_answer_the_operators_address_only() {
    let (app, _) = ready_app().await;
    let balancer = behind_haproxy(app.port());
    metrics_answer_the_operators_address_only(&balancer.url).await;
}

async fn metrics_answer_the_operators_address_only(front: &str) {
    let from = |address: &str| {
        reqwest::Client::builder()
            .local_address(address.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let get = |client: reqwest::Client, path: &str| {
        let url = format!("{front}{path}");
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        get(from("127.0.0.1"), "/metrics").await,
        200,
        "the operator"
    );
    assert_eq!(get(from("127.0.0.2"), "/metrics").await, 403, "anyone else");
    assert_eq!(get(from("127.0.0.2"), "//metrics").await, 403);
    for path in [
        "/judge0/statistics",
        "/judge0-extra/system_info",
        "/judge0/workers/",
    ] {
        assert_eq!(get(from("127.0.0.2"), path).await, 403, "{path}");
        assert_eq!(get(from("127.0.0.1"), path).await, 200, "{path}");
    }
    assert_eq!(
        get(from("127.0.0.2"), "/languages").await,
        200,
        "the rest is everyone's"
    );
}
