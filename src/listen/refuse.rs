//! Refusing a peer that is not the proxy, before reading anything from it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Refused non-proxy peers being answered at once; beyond this they are
/// closed without the 403.
pub(super) const MAX_REFUSALS: usize = 256;
/// How long the 403 waits for a refused peer to start its request.
const REFUSAL_WAIT: Duration = Duration::from_millis(250);
/// How long a refused peer gets to read the 403 and finish sending.
const REFUSAL_DRAIN: Duration = Duration::from_secs(2);
/// Bytes of a refused peer's request read and thrown away, at most.
const REFUSAL_DRAIN_BYTES: usize = 64 * 1024;
/// The answer a peer other than the proxy gets, a 403 with the JSON `body`,
/// as bytes on the wire.
fn forbidden(body: &str) -> Vec<u8> {
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
pub(super) fn refuse(mut stream: TcpStream, tls: bool, refusals: &Arc<Semaphore>, body: &str) {
    if tls {
        return;
    }
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    let answer = forbidden(body);
    tokio::spawn(async move {
        // Peeked, not read: the request stays unread in the socket.
        let _ = tokio::time::timeout(REFUSAL_WAIT, stream.peek(&mut [0u8; 1])).await;
        let answer = async {
            stream.write_all(&answer).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response_with_its_json_body() {
        let given = r#"{"detail":"only the proxy is served"}"#;
        let text = String::from_utf8(forbidden(given)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(head.contains("content-type: application/json\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(body, given);
    }
}
