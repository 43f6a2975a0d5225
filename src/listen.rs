//! Accepting connections, with the bounds a public server needs. As each
//! connection arrives, before a byte of it is read:
//!
//! 1. `--proxy`: a peer that is not the proxy is refused at once. Over plain
//!    HTTP it gets the original's 403 with its JSON `detail`, written as soon
//!    as the peer has sent something (or after [`REFUSAL_WAIT`] if it sends
//!    nothing: HTTP clients such as hyper's treat an answer that arrives
//!    before their request as an error), then a half-close and a short
//!    bounded drain so that the client reads it (closing with its request
//!    unread would send a reset, and the reset would destroy the answer);
//!    nothing the peer sent is parsed. Over TLS it is closed. Such
//!    connections never take a slot, so stalling ones cannot crowd out the
//!    proxy.
//! 2. A cap per client address ([`Policy::per_client`]; the proxy is exempt).
//! 3. A slot of [`Policy::connections`], taken before a TLS handshake is
//!    spawned: handshakes under way count as open connections.
//!
//! Then each connection has deadlines: its TLS handshake; each request's
//! headers, which also bounds the idle time between requests (hyper starts
//! that timer whenever it waits for a request); and each write, so that a
//! client that stops reading a response loses the connection and its slot.
//! Upgraded connections (the WebSocket sessions of a later issue) will carry
//! their own session limits.
//!
//! Refusals are logged at most once per [`WARN_EVERY`] per kind, with how
//! many were not logged. On shutdown no new connections are accepted while
//! open ones finish their requests.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::buckets::client_key;

/// Connections open at once, by default (fewer when the file-descriptor
/// limit is lower, see [`fit_to_fd_limit`]); one more is closed as soon as it
/// is accepted. An idle connection costs ~25 KB here (1000 of them: 26 MB
/// RSS for the whole server, `bench/flood.py`), so this leaves room for a
/// gateway and real clients beside a flood from many addresses.
pub const MAX_CONNECTIONS: usize = 4096;
/// File descriptors kept for everything but client connections (podman's
/// socket, containers' streams, logs).
const FD_RESERVE: u64 = 512;
/// Refused non-proxy peers being answered at once; beyond this they are
/// closed without the 403.
const MAX_REFUSALS: usize = 256;
/// How long the 403 waits for a refused peer to start its request.
const REFUSAL_WAIT: Duration = Duration::from_millis(250);
/// How long a refused peer gets to read the 403 and finish sending.
const REFUSAL_DRAIN: Duration = Duration::from_secs(2);
/// Bytes of a refused peer's request read and thrown away, at most.
const REFUSAL_DRAIN_BYTES: usize = 64 * 1024;
/// The most bytes of a request's head held for one connection.
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines in one request.
const MAX_HEADERS: usize = 128;
/// How often each kind of refusal may be logged.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// How [`serve`] bounds its connections.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// A client gets this long to send each request's headers, and this long
    /// idle between requests.
    pub headers: Duration,
    /// Each write of a response may wait this long for the client to read.
    pub write: Duration,
    /// A TLS handshake must finish within this.
    pub handshake: Duration,
    /// After shutdown, open connections get this long to finish.
    pub drain: Duration,
    /// Connections open at once (TLS handshakes included).
    pub connections: usize,
    /// Connections one client address may hold; the proxy is exempt.
    pub per_client: usize,
    /// `--proxy`: only this peer is served.
    pub proxy: Option<IpAddr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            headers: Duration::from_secs(30),
            write: Duration::from_secs(30),
            handshake: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            connections: MAX_CONNECTIONS,
            per_client: crate::config::DEFAULT_CLIENT_CONNECTIONS,
            proxy: None,
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then lets open connections finish. Handlers see the
/// peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    policy: Policy,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(policy.connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let clients = Arc::new(ClientTable::default());
    let warnings = Warnings::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(policy.headers)
        // A request's head in at most 64 KiB (hyper's default buffer is
        // ~400 KiB per connection, all of it before any key is checked).
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warnings.accept_failed.warn(format_args!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let ip = peer.ip().to_canonical();
        let from_proxy = policy.proxy.map(|p| p.to_canonical() == ip);
        if from_proxy == Some(false) {
            warnings.not_proxy.warn(format_args!(
                "connection from {peer} refused: not the proxy"
            ));
            refuse(stream, acceptor.is_some(), &refusals);
            continue;
        }
        let client = if from_proxy == Some(true) {
            None
        } else {
            match clients.take(ip, policy.per_client) {
                Some(client) => Some(client),
                None => {
                    warnings.per_client.warn(format_args!(
                        "connection from {peer} refused: {} open from that client",
                        policy.per_client
                    ));
                    continue;
                }
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            warnings.full.warn(format_args!(
                "connection from {peer} refused: {} open",
                policy.connections
            ));
            continue;
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            http: http.clone(),
            watcher: graceful.watcher(),
            write_deadline: policy.write,
            _slot: slot,
            _client: client,
        };
        let acceptor = acceptor.clone();
        let handshake = policy.handshake;
        tokio::spawn(async move {
            let stream = with_write_deadline(stream, connection.write_deadline);
            match acceptor {
                None => connection.serve(stream).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection.serve(tls).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(policy.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {} s; closing them",
            policy.drain.as_secs()
        );
    }
}

/// `wanted` connections, or fewer so that they fit under this process's
/// file-descriptor limit with [`FD_RESERVE`] to spare (logged when cut).
pub fn fit_to_fd_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    // The soft limit up to the hard one first (shells default to 1024).
    let mut limits = getrlimit(Resource::Nofile);
    if limits.current < limits.maximum {
        limits.current = limits.maximum;
        let _ = setrlimit(Resource::Nofile, limits);
    }
    let limit = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let room = usize::try_from(limit.saturating_sub(FD_RESERVE).max(64)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            fd_limit = limit,
            connections = room,
            "the file-descriptor limit allows only {room} client connections (raise LimitNOFILE / ulimit -n for {wanted})"
        );
    }
    wanted.min(room)
}

/// A stream whose writes fail once the peer has not read for `deadline`.
fn with_write_deadline(
    stream: TcpStream,
    deadline: Duration,
) -> std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<TcpStream>>> {
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(Some(deadline));
    Box::pin(stream)
}

/// One accepted connection and what it holds until it ends.
struct Connection {
    peer: SocketAddr,
    app: Router,
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
    write_deadline: Duration,
    _slot: OwnedSemaphorePermit,
    _client: Option<ClientSlot>,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            app,
            http,
            watcher,
            ..
        } = self;
        let service = tower::service_fn(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// The answer a peer other than the proxy gets, as bytes on the wire.
fn forbidden() -> Vec<u8> {
    let body = crate::api::error::ApiError::Forbidden.json_body();
    let mut response = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// Refuses a peer that is not the proxy without reading its request: over
/// plain HTTP the 403 (when fewer than [`MAX_REFUSALS`] are being answered),
/// over TLS a close.
fn refuse(mut stream: TcpStream, tls: bool, refusals: &Arc<Semaphore>) {
    if tls {
        return;
    }
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        // Peeked, not read: the request stays unread in the socket.
        let _ = tokio::time::timeout(REFUSAL_WAIT, stream.peek(&mut [0u8; 1])).await;
        let answer = async {
            stream.write_all(&forbidden()).await?;
            stream.shutdown().await?;
            let mut buf = [0u8; 4096];
            let mut read = 0;
            while read < REFUSAL_DRAIN_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => read += n,
                }
            }
            std::io::Result::Ok(())
        };
        let _ = tokio::time::timeout(REFUSAL_DRAIN, answer).await;
        drop(permit);
    });
}

/// Open connections per client address.
#[derive(Default)]
struct ClientTable {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientTable {
    /// A place for one more connection from `ip`, unless it holds `cap`.
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            table: Arc::clone(self),
            key,
        })
    }
}

/// One connection counted against its client; given back on drop.
struct ClientSlot {
    table: Arc<ClientTable>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The kinds of refusal, each logged at most once per [`WARN_EVERY`].
#[derive(Default)]
struct Warnings {
    accept_failed: Warning,
    not_proxy: Warning,
    per_client: Warning,
    full: Warning,
}

#[derive(Default)]
struct Warning {
    last: Mutex<Option<Instant>>,
    unlogged: AtomicU64,
}

impl Warning {
    fn warn(&self, message: std::fmt::Arguments<'_>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        if unlogged == 0 {
            tracing::warn!("{message}");
        } else {
            tracing::warn!("{message} (and {unlogged} more like it not logged)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_cap_of_connections_and_its_places_back_on_close() {
        let table = Arc::new(ClientTable::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| table.take(ip, 3).unwrap()).collect();
        assert!(table.take(ip, 3).is_none());
        assert!(table.take("192.0.2.2".parse().unwrap(), 3).is_some());
        drop(held);
        assert!(table.take(ip, 3).is_some());
        assert!(
            table.open.lock().unwrap().len() <= 1,
            "closed clients are forgotten"
        );
    }

    #[test]
    fn the_refusal_is_a_complete_http_response_with_a_json_detail() {
        let text = String::from_utf8(forbidden()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["detail"].as_str().unwrap().contains("proxy"));
    }
}
