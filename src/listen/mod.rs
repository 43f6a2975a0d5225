//! Accepting connections, with the bounds a public server needs. As each
//! connection arrives, before a byte of it is read:
//!
//! 1. `--proxy`: a peer that is not the proxy is refused at once. Over plain
//!    HTTP it gets the original's 403 with its JSON `detail`, written as soon
//!    as the peer has sent something (or after 250 ms if it sends
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
//!
//! A connection the server ends is closed lingering ([`linger`]): a FIN,
//! then what the peer still sends is drained (bounded), so that an answer
//! given before a request was read in full (401, 413) is not destroyed by
//! a reset.
//!
//! - [`refuse`]: the 403 for a peer that is not the proxy.
//! - [`linger`]: the lingering close.
//! - [`clients`]: open connections per client address.
//! - [`warnings`]: refusals logged sparingly.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

mod clients;
mod linger;
mod refuse;
mod warnings;

use clients::{ClientSlot, ClientTable};
use refuse::{refuse, MAX_REFUSALS};
use warnings::Warnings;
pub use warnings::WARN_EVERY;

/// Connections open at once, by default (fewer when the file-descriptor
/// limit is lower, see [`fit_to_fd_limit`]); one more is closed as soon as it
/// is accepted. An idle connection costs ~25 KB here (1000 of them: 26 MB
/// RSS for the whole server, `bench/flood.py`), so this leaves room for a
/// gateway and real clients beside a flood from many addresses.
pub const MAX_CONNECTIONS: usize = 4096;
/// File descriptors kept for everything but client connections (podman's
/// socket, containers' streams, logs).
const FD_RESERVE: u64 = 512;
/// The most bytes of a request's head held for one connection.
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines in one request.
const MAX_HEADERS: usize = 128;

/// How long a TLS handshake may take, unless a policy says otherwise.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How [`serve`] bounds its connections; the server builds it from its
/// settings.
#[derive(Debug, Clone)]
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
    /// The JSON body of the 403 a peer other than the proxy gets over plain
    /// HTTP, handed in by the server (the listener knows no API).
    pub refusal: Arc<str>,
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
    let admission = Admission::new(policy.clone(), acceptor.is_some());
    // Told to every connection on shutdown; each then finishes its request.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let http = http_builder(&policy);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    admission.warnings.accept_failed.warn(format_args!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Some((stream, held)) = admission.admit(stream, peer) else {
            continue;
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            http: http.clone(),
            stopping: stopping.clone(),
            write_deadline: policy.write,
            slot: ConnectionSlot {
                _held: Arc::new(held),
                stopping: stopping.clone(),
            },
        };
        tokio::spawn(connection.start(stream, acceptor.clone(), policy.handshake));
    }
    drop(listener);
    let _ = stop.send(true);
    admission.drain().await;
}

/// HTTP/1.1 with keep-alive, the head of a request bounded in time, bytes
/// and lines.
fn http_builder(policy: &Policy) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(policy.headers)
        // A request's head in at most 64 KiB (hyper's default buffer is
        // ~400 KiB per connection, all of it before any key is checked).
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    http
}

/// What an accepted connection holds until it ends: a slot of
/// [`Policy::connections`], and its client's place (none for the proxy).
type Held = (OwnedSemaphorePermit, Option<ClientSlot>);

/// The checks a connection passes as it arrives, and what they count.
struct Admission {
    policy: Policy,
    tls: bool,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    clients: Arc<ClientTable>,
    warnings: Warnings,
}

impl Admission {
    fn new(policy: Policy, tls: bool) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(policy.connections)),
            refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
            clients: Arc::new(ClientTable::default()),
            warnings: Warnings::default(),
            policy,
            tls,
        }
    }

    /// `stream` with the places it takes, or `None` when it is refused (a
    /// peer other than the proxy, a client over its cap, no slot left).
    fn admit(&self, stream: TcpStream, peer: SocketAddr) -> Option<(TcpStream, Held)> {
        let policy = &self.policy;
        let ip = peer.ip().to_canonical();
        let from_proxy = policy.proxy.map(|p| p.to_canonical() == ip);
        if from_proxy == Some(false) {
            self.warnings.not_proxy.warn(format_args!(
                "connection from {peer} refused: not the proxy"
            ));
            refuse(stream, self.tls, &self.refusals, &policy.refusal);
            return None;
        }
        let client = if from_proxy == Some(true) {
            None
        } else {
            let Some(client) = self.clients.take(ip, policy.per_client) else {
                self.warnings.per_client.warn(format_args!(
                    "connection from {peer} refused: {} open from that client",
                    policy.per_client
                ));
                return None;
            };
            Some(client)
        };
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.warnings.full.warn(format_args!(
                "connection from {peer} refused: {} open",
                policy.connections
            ));
            return None;
        };
        Some((stream, (slot, client)))
    }

    /// Waits, up to the policy's drain deadline, for every slot to come
    /// back: each connection, and each upgraded session (which keeps its
    /// connection's slot), has ended.
    async fn drain(&self) {
        let all = u32::try_from(self.policy.connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(self.policy.drain, self.slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                "connections still open after {} s; closing them",
                self.policy.drain.as_secs()
            );
        }
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
    stopping: tokio::sync::watch::Receiver<bool>,
    write_deadline: Duration,
    slot: ConnectionSlot,
}

impl Connection {
    /// Serves the connection, after its TLS handshake (within `handshake`)
    /// when `acceptor` is given.
    async fn start(self, stream: TcpStream, acceptor: Option<TlsAcceptor>, handshake: Duration) {
        let peer = self.peer;
        let stream = with_write_deadline(stream, self.write_deadline);
        match acceptor {
            None => self.serve(stream).await,
            Some(acceptor) => {
                match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.serve(tls).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            app,
            http,
            mut stopping,
            slot,
            ..
        } = self;
        let service = tower::service_fn(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(slot.clone());
                app.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let io = TokioIo::new(linger::Lingering::new(io));
        let connection = http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        tokio::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = async {
                // A dropped sender is a stop too.
                let _ = stopping.wait_for(|stop| *stop).await;
            } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// A connection's place among [`Policy::connections`] and its client's
/// [`Policy::per_client`], in every request's extensions: an upgraded
/// session (a WebSocket) keeps a clone, so it counts as the open connection
/// it is until it ends, and it learns of a shutdown from it.
#[derive(Clone)]
pub struct ConnectionSlot {
    _held: Arc<(OwnedSemaphorePermit, Option<ClientSlot>)>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl ConnectionSlot {
    /// Resolves when the server is shutting down.
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.clone();
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}
