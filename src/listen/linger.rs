//! A lingering close. When the server ends a connection whose request it
//! answered without reading all of it (a 401 or 413 decided from the
//! headers), closing the socket with that data unread makes the kernel send
//! a reset, and a reset can destroy the answer before the peer reads it: a
//! proxy still sending the body (nginx) fails with `EPIPE` and answers 502.
//! So the close sends a FIN, then reads and discards what the peer still
//! sends until it closes too, for at most [`LINGER`] and [`LINGER_BYTES`]
//! (nginx's own `lingering_close`, bounded so that a peer that keeps
//! sending cannot keep the connection).
//!
//! Hand-written: hyper calls `poll_shutdown` when it ends a connection and
//! offers no lingering close of its own; this wraps the stream it is given.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Longest wait for the peer to close after the server did.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while waiting.
pub const LINGER_BYTES: usize = 8 << 20;

pub struct Lingering<I> {
    io: I,
    state: State,
}

enum State {
    Open,
    Draining {
        until: Pin<Box<Sleep>>,
        drained: usize,
    },
    Closed,
}

impl<I> Lingering<I> {
    pub fn new(io: I) -> Self {
        Lingering {
            io,
            state: State::Open,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Lingering<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    let sent = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
                    if sent.is_err() {
                        this.state = State::Closed;
                        return Poll::Ready(sent);
                    }
                    this.state = State::Draining {
                        until: Box::pin(tokio::time::sleep(LINGER)),
                        drained: 0,
                    };
                }
                State::Draining { until, drained } => {
                    if until.as_mut().poll(cx).is_ready() {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *drained += buf.filled().len();
                            if *drained > LINGER_BYTES {
                                this.state = State::Closed;
                            }
                        }
                        // The peer's close, or an error: nothing more to wait for.
                        Poll::Ready(_) => this.state = State::Closed,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_close_waits_for_the_peer_and_drains_what_it_still_sends() {
        let (server, mut peer) = tokio::io::duplex(1024);
        let mut server = Lingering::new(server);
        server.write_all(b"answer").await.unwrap();
        let closing = tokio::spawn(async move { server.shutdown().await });
        // The peer is still sending its request: the server keeps reading.
        peer.write_all(&[b'x'; 64 * 1024]).await.unwrap();
        let mut answer = Vec::new();
        peer.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer", "the answer arrives whole, then EOF");
        assert!(!closing.is_finished(), "waits for the peer's close");
        drop(peer);
        closing.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_closes_is_left_after_the_linger() {
        let (server, _peer) = tokio::io::duplex(1024);
        let mut server = Lingering::new(server);
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), LINGER);
    }
}
