//! The client of podman's REST API (libpod) on the service's unix socket:
//! every call with a deadline, and the calls this project makes as typed
//! methods. One connection per call: on a local socket that costs less than
//! a millisecond and leaves nothing to go stale.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::UnixStream;

use super::{images_from_json, ListedImage};
use crate::naming::IMAGE_PREFIX;

/// The API version podman 4 serves.
const PREFIX: &str = "/v4.0.0/libpod";
/// How long a call waits for the service's socket to come (back) up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// What went wrong talking to podman's service.
#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    #[error("podman's service is not reachable at {socket}: {reason}")]
    Unreachable { socket: String, reason: String },
    #[error("podman's service did not answer {call} within {deadline:?}")]
    Timeout { call: String, deadline: Duration },
    #[error("podman's service refused {call} ({status}): {message}")]
    Refused {
        call: String,
        status: StatusCode,
        message: String,
    },
    #[error("talking to podman's service: {0}")]
    Protocol(String),
}

impl PodmanError {
    /// The named container or image does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, PodmanError::Refused { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// Podman's own message, if it answered at all.
    pub fn message(&self) -> Option<&str> {
        match self {
            PodmanError::Refused { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The container's stdin and its multiplexed stdout/stderr, after an attach.
pub type AttachStream = TokioIo<hyper::upgrade::Upgraded>;

/// A handle on the service's socket.
#[derive(Debug, Clone)]
pub struct PodmanApi {
    socket: PathBuf,
}

impl PodmanApi {
    pub fn new(socket: PathBuf) -> PodmanApi {
        PodmanApi { socket }
    }

    /// Whether the service answers its ping.
    pub async fn ping(&self, deadline: Duration) -> bool {
        let call = async {
            let stream = UnixStream::connect(&self.socket).await.ok()?;
            let mut sender = handshake(stream).await.ok()?;
            let response = sender
                .send_request(request(Method::GET, "/_ping", None))
                .await;
            response.ok().map(|r| r.status().is_success())
        };
        matches!(tokio::time::timeout(deadline, call).await, Ok(Some(true)))
    }

    /// `method path` with an optional JSON body; the answer's JSON (or null).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        deadline: Duration,
    ) -> Result<Value, PodmanError> {
        let name = format!("{method} {path}");
        let call = async {
            let mut sender = handshake(self.connect().await?).await?;
            let body = body.map(|b| Bytes::from(b.to_string()));
            let response = sender
                .send_request(request(method, path, body))
                .await
                .map_err(|e| PodmanError::Protocol(e.to_string()))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| PodmanError::Protocol(e.to_string()))?
                .to_bytes();
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() {
                Ok(value)
            } else {
                let message = value["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
                Err(PodmanError::Refused {
                    call: name.clone(),
                    status,
                    message,
                })
            }
        };
        tokio::time::timeout(deadline, call)
            .await
            .map_err(|_| PodmanError::Timeout {
                call: name.clone(),
                deadline,
            })?
    }

    /// Attaches to a container's stdin, stdout and stderr (before it starts,
    /// so nothing it prints is missed).
    pub async fn attach(&self, id: &str, deadline: Duration) -> Result<AttachStream, PodmanError> {
        let path =
            format!("/containers/{id}/attach?stdin=true&stdout=true&stderr=true&stream=true");
        let call = async {
            let mut sender = handshake(self.connect().await?).await?;
            let mut req = request(Method::POST, &path, None);
            req.headers_mut()
                .insert(CONNECTION, "Upgrade".parse().expect("valid header"));
            req.headers_mut()
                .insert(UPGRADE, "tcp".parse().expect("valid header"));
            let response = sender
                .send_request(req)
                .await
                .map_err(|e| PodmanError::Protocol(e.to_string()))?;
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                return Err(PodmanError::Refused {
                    call: format!("POST {path}"),
                    status: response.status(),
                    message: "attach was not upgraded".into(),
                });
            }
            let upgraded = hyper::upgrade::on(response)
                .await
                .map_err(|e| PodmanError::Protocol(e.to_string()))?;
            Ok(TokioIo::new(upgraded))
        };
        tokio::time::timeout(deadline, call)
            .await
            .map_err(|_| PodmanError::Timeout {
                call: format!("POST {path}"),
                deadline,
            })?
    }

    /// Creates a container from libpod's create spec; its full id.
    pub async fn create(&self, spec: &Value, deadline: Duration) -> Result<String, PodmanError> {
        let created = self
            .call(Method::POST, "/containers/create", Some(spec), deadline)
            .await?;
        created["Id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned)
            .ok_or_else(|| {
                PodmanError::Protocol(format!("create answered without an id: {created}"))
            })
    }

    pub async fn start(&self, id: &str, deadline: Duration) -> Result<(), PodmanError> {
        let path = format!("/containers/{id}/start");
        self.call(Method::POST, &path, None, deadline)
            .await
            .map(drop)
    }

    /// Kills (no stop grace) and removes a container; one that does not
    /// exist counts as removed.
    pub async fn remove(&self, name: &str, deadline: Duration) -> Result<(), PodmanError> {
        let path = format!("/containers/{name}?force=true&timeout=0");
        match self.call(Method::DELETE, &path, None, deadline).await {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether a container is still running, and its exit code once not.
    pub async fn state(
        &self,
        id: &str,
        deadline: Duration,
    ) -> Result<(bool, Option<i32>), PodmanError> {
        let path = format!("/containers/{id}/json");
        let info = self.call(Method::GET, &path, None, deadline).await?;
        let state = &info["State"];
        let code = state["ExitCode"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok());
        Ok((state["Running"] == true, code))
    }

    /// Names of every container (running or not) carrying all these
    /// `key=value` labels.
    pub async fn containers_labelled(
        &self,
        labels: &[String],
        deadline: Duration,
    ) -> Result<Vec<String>, PodmanError> {
        let listed = self.containers_json(labels, deadline).await?;
        Ok(listed
            .iter()
            .filter_map(|c| c["Names"].as_array()?.first()?.as_str().map(str::to_owned))
            .collect())
    }

    /// Every container (running or not) carrying the `key=value` label, with
    /// its name and all its labels.
    pub async fn containers_with_labels(
        &self,
        label: &str,
        deadline: Duration,
    ) -> Result<Vec<(String, std::collections::HashMap<String, String>)>, PodmanError> {
        let listed = self.containers_json(&[label.to_owned()], deadline).await?;
        Ok(listed
            .iter()
            .filter_map(|c| {
                let name = c["Names"].as_array()?.first()?.as_str()?.to_owned();
                let labels = c["Labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((name, labels))
            })
            .collect())
    }

    /// podman's listing of the containers carrying all `labels`.
    async fn containers_json(
        &self,
        labels: &[String],
        deadline: Duration,
    ) -> Result<Vec<Value>, PodmanError> {
        let filters = json!({ "label": labels }).to_string();
        let path = format!(
            "/containers/json?all=true&filters={}",
            query_escape(&filters)
        );
        let listed = self.call(Method::GET, &path, None, deadline).await?;
        Ok(match listed {
            Value::Array(containers) => containers,
            _ => Vec::new(),
        })
    }

    /// The project's images (`localhost/whipcode-*`), one entry per name.
    pub async fn project_images(
        &self,
        deadline: Duration,
    ) -> Result<Vec<ListedImage>, PodmanError> {
        let filters = json!({ "reference": [format!("{IMAGE_PREFIX}*")] }).to_string();
        let path = format!("/images/json?filters={}", query_escape(&filters));
        let listed = self.call(Method::GET, &path, None, deadline).await?;
        images_from_json(listed).map_err(PodmanError::Protocol)
    }

    /// Connects, waiting a little while the service is being (re)started.
    async fn connect(&self) -> Result<UnixStream, PodmanError> {
        let give_up = tokio::time::Instant::now() + CONNECT_PATIENCE;
        loop {
            match UnixStream::connect(&self.socket).await {
                Ok(stream) => return Ok(stream),
                Err(e) if tokio::time::Instant::now() >= give_up => {
                    return Err(PodmanError::Unreachable {
                        socket: self.socket.display().to_string(),
                        reason: e.to_string(),
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// Percent-encodes a query value (the JSON of podman's `filters`).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn handshake(stream: UnixStream) -> Result<Sender, PodmanError> {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| PodmanError::Protocol(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}

fn request(method: Method, path: &str, body: Option<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{PREFIX}{path}"))
        .header(HOST, "podman");
    if body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    builder
        .body(Full::new(body.unwrap_or_default()))
        .expect("a request built from a method and a path is valid")
}

/// One frame of an attach stream: which stream it belongs to and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

impl Frame {
    /// Bytes of payload.
    pub fn len(&self) -> usize {
        match self {
            Frame::Stdout(b) | Frame::Stderr(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Largest attach frame accepted (podman sends at most a few KiB at a time).
const MAX_FRAME: usize = 1024 * 1024;

/// Reads one frame of podman's multiplexed attach stream: an 8-byte header
/// (stream, three zero bytes, big-endian length) and the payload. `None` at
/// the end of the stream.
pub async fn read_frame(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> std::io::Result<Option<Frame>> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 8];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    match header[0] {
        2 => Ok(Some(Frame::Stderr(payload))),
        _ => Ok(Some(Frame::Stdout(payload))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attach_frames_are_split_by_stream_and_end_at_eof() {
        let mut bytes = vec![1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
        bytes.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 1, b'!']);
        let mut reader = bytes.as_slice();
        assert_eq!(
            read_frame(&mut reader).await.unwrap(),
            Some(Frame::Stdout(b"hi".to_vec()))
        );
        assert_eq!(
            read_frame(&mut reader).await.unwrap(),
            Some(Frame::Stderr(b"!".to_vec()))
        );
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_oversized_attach_frame_is_refused() {
        let bytes = [1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut bytes.as_slice()).await.is_err());
    }

    #[test]
    fn filters_are_percent_encoded_in_the_query() {
        assert_eq!(
            query_escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }

    #[tokio::test]
    async fn a_call_never_outlives_its_deadline_even_without_a_socket() {
        let lib = PodmanApi::new(PathBuf::from("/nonexistent/whipcode/podman.sock"));
        let started = std::time::Instant::now();
        let err = lib
            .call(Method::GET, "/_ping", None, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, PodmanError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
