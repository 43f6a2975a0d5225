//! Accepting connections, with the bounds a public server needs: at most
//! [`MAX_CONNECTIONS`] open at once (more are closed on arrival), request
//! headers within a deadline (slow clients are cut off), and on shutdown no
//! new connections while open ones finish their requests.
//!
//! Works with any listener: plain TCP, or TLS from [`crate::tls`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connections open at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// The deadlines of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// A client gets this long to send each request's headers.
    pub headers: Duration,
    /// After shutdown, open connections get this long to finish.
    pub drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    deadlines: Deadlines,
) where
    L: Listener<Addr = SocketAddr>,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(deadlines.headers)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, limit = MAX_CONNECTIONS, "connection refused: too many open");
            drop(io);
            continue;
        };
        let app = app.clone();
        let service = tower::service_fn(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(deadlines.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {} s; closing them",
            deadlines.drain.as_secs()
        );
    }
}
