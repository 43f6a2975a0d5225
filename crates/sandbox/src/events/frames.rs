//! Event frames read off a container's stream.

use tokio::io::{AsyncRead, AsyncReadExt};
use whipcode_runner::{parse_header, Event};

/// Largest event frame accepted from a container.
const MAX_EVENT: usize = 1024 * 1024;

/// Frames read off a stream, cancel-safe: the only await point reads into
/// a buffer kept here, so a deadline can interrupt a read without losing a
/// partial frame.
#[derive(Default)]
pub struct Frames {
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Frames {
    pub async fn next(
        &mut self,
        stream: &mut (impl AsyncRead + Unpin),
    ) -> std::io::Result<Option<Event>> {
        loop {
            if self.buf.len() >= 5 {
                let header: [u8; 5] = self.buf[..5].try_into().expect("five bytes");
                let (tag, len) = parse_header(&header)?;
                if len > MAX_EVENT {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("event of {len} bytes"),
                    ));
                }
                if self.buf.len() >= 5 + len {
                    let payload = self.buf[5..5 + len].to_vec();
                    self.buf.drain(..5 + len);
                    return Event::decode(tag, payload).map(Some);
                }
            }
            if self.scratch.is_empty() {
                self.scratch = vec![0u8; 64 * 1024];
            }
            let n = stream.read(&mut self.scratch).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
    }
}
