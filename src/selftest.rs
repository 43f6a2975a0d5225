//! `--self-test`: sends each language's self-test programs through a running
//! service, as a client would, and prints a table. A language passes when
//! every program it defines gives the expected stdout with no timeout.
//!
//! - `hello` must print `Success!`.
//! - `echo` gets a multi-line stdin (blank lines, a tab, no final newline, a
//!   random token) and must print it back unchanged.
//! - `args_code`, sent with `args`, must print `Success!`.
//! - `canonical` (the program as the language's tutorial writes it) gets a
//!   line and must print it back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::languages::Language;

/// How long one request may take, compile and queue included.
const REQUEST_DEADLINE: Duration = Duration::from_secs(180);
/// Languages tested at once: one per CPU (at most 4), so that the heavier
/// toolchains (Crystal, Zig, .NET) stay well inside the default timeout.
fn parallel() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
}

/// Why the self-test did not pass.
#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    #[error("self-test task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("{failed} of {total} languages failed")]
    Failed { failed: usize, total: usize },
}

/// Why one request to the service got no answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no answer within {} s", .0.as_secs())]
    Deadline(Duration),
    #[error("HTTP handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("building the request: {0}")]
    Build(#[source] hyper::http::Error),
    #[error("request failed: {0}")]
    Request(#[source] hyper::Error),
    #[error("reading the response: {0}")]
    Read(#[source] hyper::Error),
}

/// Where the service is and how to reach it.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Verify the server against this configuration when it serves TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub key: String,
}

impl Target {
    /// The address to call for a service listening on `addr`: the loopback
    /// address when it listens on all interfaces.
    pub fn connect_addr(addr: IpAddr, port: u16) -> SocketAddr {
        let ip = match addr {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        SocketAddr::new(ip, port)
    }
}

/// One program's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: &'static str,
    /// `None`: passed; otherwise why not.
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LanguageResult {
    pub id: u32,
    pub name: String,
    pub cases: Vec<CaseResult>,
    pub seconds: f64,
}

impl LanguageResult {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.failure.is_none())
    }
}

/// Tests every language given, prints the table to stdout and the reasons of
/// failures after it; `Err` when any language failed.
pub async fn run(target: Target, languages: Vec<Arc<Language>>) -> Result<(), SelfTestError> {
    let total = languages.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel()));
    let mut tasks = Vec::with_capacity(total);
    for language in languages {
        let target = target.clone();
        let limit = Arc::clone(&limit);
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            test_language(&target, &language).await
        }));
    }
    let mut results = Vec::with_capacity(total);
    for task in tasks {
        results.push(task.await.map_err(SelfTestError::Task)?);
    }
    print!("{}", table(&results));
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    for result in &failed {
        for case in &result.cases {
            if let Some(why) = &case.failure {
                println!("{} {}: {why}", result.name, case.case);
            }
        }
    }
    if failed.is_empty() {
        println!("all {total} languages passed");
        Ok(())
    } else {
        Err(SelfTestError::Failed {
            failed: failed.len(),
            total,
        })
    }
}

/// The table: one row per language, one column per program.
pub fn table(results: &[LanguageResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!(
        "{:>4}  {:<width$}  {:<5}  {:<5}  {:<5}  {:<9}  {:>7}\n",
        "id", "language", "hello", "echo", "args", "canonical", "seconds"
    );
    for r in results {
        let cell = |name: &str| match r.cases.iter().find(|c| c.case == name) {
            None => "-",
            Some(c) if c.failure.is_none() => "ok",
            Some(_) => "FAIL",
        };
        out.push_str(&format!(
            "{:>4}  {:<width$}  {:<5}  {:<5}  {:<5}  {:<9}  {:>7.2}\n",
            r.id,
            r.name,
            cell("hello"),
            cell("echo"),
            cell("args"),
            cell("canonical"),
            r.seconds
        ));
    }
    out
}

async fn test_language(target: &Target, language: &Language) -> LanguageResult {
    let started = Instant::now();
    let t = &language.selftest;
    let mut cases = vec![case(target, language, "hello", &t.hello, "", "", None).await];
    if let Some(echo) = &t.echo {
        let stdin = format!(
            "Success!\n\n\tsecond line\n{:016x} no newline at the end",
            rand::random::<u64>()
        );
        cases.push(case(target, language, "echo", echo, &stdin, "", Some(&stdin)).await);
    }
    if let (Some(args), Some(code)) = (&t.args, &t.args_code) {
        cases.push(case(target, language, "args", code, "", args, None).await);
    }
    if let Some(code) = &t.canonical {
        let line = "whipcode reads this line\n";
        cases.push(case(target, language, "canonical", code, line, "", Some(line)).await);
    }
    LanguageResult {
        id: language.id,
        name: language.name.clone(),
        cases,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs one program; `exact` is the stdout expected byte for byte, otherwise
/// stdout must be `Success!` and a newline.
async fn case(
    target: &Target,
    language: &Language,
    name: &'static str,
    code: &str,
    stdin: &str,
    args: &str,
    exact: Option<&str>,
) -> CaseResult {
    let body = json!({
        "language_id": language.id,
        "code": base64::engine::general_purpose::STANDARD.encode(code),
        "stdin": stdin,
        "args": args,
    });
    let failure = match post_run(target, body.to_string().into_bytes()).await {
        Err(e) => Some(e.to_string()),
        Ok((status, body)) => judge(status, &body, exact),
    };
    CaseResult {
        case: name,
        failure,
    }
}

fn judge(status: u16, body: &[u8], exact: Option<&str>) -> Option<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Some(format!("HTTP {status}, not JSON"));
    };
    if status != 200 {
        return Some(format!("HTTP {status}: {}", value["detail"]));
    }
    if value["timeout"] == true {
        return Some("timed out".into());
    }
    let stdout = value["stdout"].as_str().unwrap_or_default();
    let ok = match exact {
        Some(expected) => stdout == expected,
        None => stdout.trim_end_matches(['\r', '\n']) == "Success!",
    };
    if ok {
        return None;
    }
    let stderr: String = value["stderr"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let shown: String = stdout.chars().take(120).collect();
    Some(format!(
        "stdout {shown:?}, exit code {}, stderr {stderr:?}",
        value["exit_code"]
    ))
}

/// `POST /run` with `body`; the status and the response body.
pub async fn post_run(target: &Target, body: Vec<u8>) -> Result<(u16, Vec<u8>), RequestError> {
    let exchange = async {
        let tcp =
            TcpStream::connect(target.addr)
                .await
                .map_err(|source| RequestError::Connect {
                    addr: target.addr,
                    source,
                })?;
        match &target.tls {
            None => send(tcp, target, body).await,
            Some(config) => {
                let name = server_name(target.addr.ip());
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|source| RequestError::Tls {
                        addr: target.addr,
                        source,
                    })?;
                send(tls, target, body).await
            }
        }
    };
    tokio::time::timeout(REQUEST_DEADLINE, exchange)
        .await
        .map_err(|_| RequestError::Deadline(REQUEST_DEADLINE))?
}

/// `localhost` for loopback addresses (what a local certificate names),
/// otherwise the address itself.
fn server_name(ip: IpAddr) -> rustls::pki_types::ServerName<'static> {
    if ip.is_loopback() {
        rustls::pki_types::ServerName::try_from("localhost").expect("a valid name")
    } else {
        rustls::pki_types::ServerName::IpAddress(ip.into())
    }
}

async fn send<S>(stream: S, target: &Target, body: Vec<u8>) -> Result<(u16, Vec<u8>), RequestError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(RequestError::Handshake)?;
    tokio::spawn(connection);
    let request = hyper::Request::post("/run")
        .header(hyper::header::HOST, target.addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("x-master-key", &target.key)
        .body(Full::new(Bytes::from(body)))
        .map_err(RequestError::Build)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(RequestError::Request)?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(RequestError::Read)?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_needs_200_no_timeout_and_the_expected_stdout() {
        let ok = br#"{"stdout":"Success!\n","timeout":false}"#;
        assert!(judge(200, ok, None).is_none());
        assert!(judge(401, br#"{"detail":"no"}"#, None).is_some());
        assert!(judge(200, br#"{"stdout":"Success!\n","timeout":true}"#, None).is_some());
        assert!(judge(200, br#"{"stdout":"Failure\n","timeout":false}"#, None).is_some());
        assert!(judge(
            200,
            br#"{"stdout":"a\n\nb","timeout":false}"#,
            Some("a\n\nb")
        )
        .is_none());
        assert!(judge(200, br#"{"stdout":"a\nb","timeout":false}"#, Some("a\n\nb")).is_some());
    }

    #[test]
    fn the_table_has_a_row_per_language_and_marks_failures() {
        let results = vec![
            LanguageResult {
                id: 1,
                name: "Python".into(),
                cases: vec![CaseResult {
                    case: "hello",
                    failure: None,
                }],
                seconds: 0.5,
            },
            LanguageResult {
                id: 3,
                name: "Bash".into(),
                cases: vec![CaseResult {
                    case: "hello",
                    failure: Some("x".into()),
                }],
                seconds: 0.25,
            },
        ];
        let text = table(&results);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("Python") && lines[1].contains("ok"));
        assert!(lines[2].contains("Bash") && lines[2].contains("FAIL"));
    }

    #[test]
    fn all_interfaces_are_called_on_loopback() {
        let v4 = Target::connect_addr(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8000);
        assert_eq!(v4.to_string(), "127.0.0.1:8000");
        let v6 = Target::connect_addr(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1);
        assert_eq!(v6.to_string(), "[::1]:1");
    }
}
