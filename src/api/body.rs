//! The JSON body of `POST /run`, written as it is sent.
//!
//! A run's output can be as large as the output cap (per stream). Turning it
//! into a `String` and then into JSON would hold it three times over; here
//! the captured chunks are escaped one at a time as the client reads, and each
//! is freed once sent. Bytes that are not UTF-8 become U+FFFD, exactly as
//! `String::from_utf8_lossy` would have it, even when a character is split
//! between two chunks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use serde::Serialize;

use crate::sandbox::Captured;

/// The response fields after `stdout` and `stderr`, in the original's order
/// and then the additive ones.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunMeta {
    /// Seconds from starting the container to the program's end.
    pub container_age: f64,
    pub timeout: bool,
    /// `null` when the program was killed or timed out.
    pub exit_code: Option<i32>,
    /// e.g. `"SIGKILL"`, or `null`.
    pub signal: Option<String>,
    /// An output stream hit its byte cap and the run was stopped.
    pub truncated: bool,
    /// CPU seconds of the run.
    pub cpu_time: Option<f64>,
    /// Where `cpu_time` comes from: `"cgroup"` (the kernel's count of every
    /// process of the container) or `"runner"` (a fallback).
    pub cpu_time_source: Option<&'static str>,
    /// Highest memory use of the container in bytes (from its cgroup), if known.
    pub memory_peak: Option<u64>,
    /// The kernel's OOM killer ended a process of this run.
    pub oom_killed: bool,
    /// Why the run was stopped for breaking the runner's channel, if it was.
    pub channel_error: Option<String>,
    /// The compile stage on its own, for compiled languages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<StageJson>,
}

/// One stage in a response: its own output, status and figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageJson {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Its wall-clock (or CPU-time) limit ended it.
    pub timeout: bool,
    pub truncated: bool,
    /// CPU seconds of the container during the stage.
    pub cpu_time: Option<f64>,
    /// Peak memory of the container during the stage, bytes.
    pub memory_peak: Option<u64>,
    /// Seconds from the stage's start to its end.
    pub wall_time: f64,
}

enum Stage {
    Open,
    Stdout,
    Stderr,
    Tail,
    Done,
}

/// `{"stdout":…,"stderr":…,<meta>}`, produced frame by frame.
pub struct RunJson {
    stdout: Captured,
    stderr: Captured,
    /// The serialized meta with its `{` turned into `,`.
    tail: Vec<u8>,
    stage: Stage,
    /// The start of a UTF-8 character whose end is in the next chunk.
    carry: Vec<u8>,
}

impl RunJson {
    pub fn new(stdout: Captured, stderr: Captured, meta: &RunMeta) -> RunJson {
        let mut tail = serde_json::to_vec(meta).expect("plain data serializes");
        tail[0] = b',';
        RunJson {
            stdout,
            stderr,
            tail,
            stage: Stage::Open,
            carry: Vec::new(),
        }
    }

    /// Bytes of output still to be escaped.
    pub fn output_len(&self) -> usize {
        self.stdout.len() + self.stderr.len()
    }

    /// The next piece of the body, or `None` at the end.
    fn next_piece(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match self.stage {
            Stage::Open => {
                out.extend_from_slice(b"{\"stdout\":\"");
                self.stage = Stage::Stdout;
            }
            Stage::Stdout => match self.stdout.pop_chunk() {
                Some(chunk) => escape_into(&mut out, &mut self.carry, &chunk, false),
                None => {
                    escape_into(&mut out, &mut self.carry, &[], true);
                    out.extend_from_slice(b"\",\"stderr\":\"");
                    self.stage = Stage::Stderr;
                }
            },
            Stage::Stderr => match self.stderr.pop_chunk() {
                Some(chunk) => escape_into(&mut out, &mut self.carry, &chunk, false),
                None => {
                    escape_into(&mut out, &mut self.carry, &[], true);
                    out.push(b'"');
                    self.stage = Stage::Tail;
                }
            },
            Stage::Tail => {
                out = std::mem::take(&mut self.tail);
                self.stage = Stage::Done;
            }
            Stage::Done => return None,
        }
        Some(out)
    }

    /// The whole body at once (for small outputs and the cache).
    pub fn into_bytes(mut self) -> Bytes {
        let mut all = Vec::with_capacity(self.output_len() + self.tail.len() + 32);
        while let Some(piece) = self.next_piece() {
            all.extend_from_slice(&piece);
        }
        Bytes::from(all)
    }
}

impl Body for RunJson {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(
            this.next_piece()
                .map(|piece| Ok(Frame::data(Bytes::from(piece)))),
        )
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    fn size_hint(&self) -> SizeHint {
        // Escaping only grows the output: it is at least this long.
        let mut hint = SizeHint::new();
        hint.set_lower(self.output_len() as u64);
        hint
    }
}

/// A body that must be sent in full within a deadline from its creation;
/// past it the body fails, and the connection with it (a client that reads
/// slowly cannot keep a slot and the output for ever).
pub struct WithDeadline<B> {
    body: B,
    deadline: Pin<Box<tokio::time::Sleep>>,
    within: std::time::Duration,
}

impl<B> WithDeadline<B> {
    pub fn new(body: B, within: std::time::Duration) -> Self {
        WithDeadline {
            body,
            deadline: Box::pin(tokio::time::sleep(within)),
            within,
        }
    }
}

impl<B: Body<Data = Bytes, Error = std::convert::Infallible> + Unpin> Body for WithDeadline<B> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the response was not read within {} s",
                    this.within.as_secs()
                ),
            ))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(never))) => match never {},
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Escapes `chunk` (after any carried partial character) as the inside of a
/// JSON string. Invalid UTF-8 becomes U+FFFD; an incomplete character at the
/// end is carried to the next chunk, or replaced when `last`.
fn escape_into(out: &mut Vec<u8>, carry: &mut Vec<u8>, chunk: &[u8], last: bool) {
    let joined;
    let rest: &[u8] = if carry.is_empty() {
        chunk
    } else {
        joined = [carry.as_slice(), chunk].concat();
        &joined
    };
    let mut next_carry = Vec::new();
    let mut pieces = rest.utf8_chunks().peekable();
    while let Some(piece) = pieces.next() {
        escape_str(out, piece.valid());
        let invalid = piece.invalid();
        if invalid.is_empty() {
            continue;
        }
        // At the very end, bytes that only lack their continuation may be
        // completed by the next chunk.
        let incomplete = pieces.peek().is_none()
            && std::str::from_utf8(invalid).is_err_and(|e| e.error_len().is_none());
        if incomplete && !last {
            next_carry = invalid.to_vec();
        } else {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    *carry = next_carry;
}

fn escape_str(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn meta() -> RunMeta {
        RunMeta {
            container_age: 0.5,
            timeout: false,
            exit_code: Some(0),
            signal: None,
            truncated: false,
            cpu_time: Some(0.01),
            cpu_time_source: Some("cgroup"),
            memory_peak: Some(4096),
            oom_killed: false,
            channel_error: None,
            compile: None,
        }
    }

    /// Captured output split into the given chunk sizes.
    fn split(bytes: &[u8], sizes: &[usize]) -> Captured {
        let mut c = Captured::default();
        let mut at = 0;
        for &n in sizes.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + n.max(1)).min(bytes.len());
            c.push_capped(bytes[at..end].to_vec(), usize::MAX);
            at = end;
        }
        c
    }

    #[test]
    fn the_body_is_the_json_of_the_lossy_text_whatever_the_chunking() {
        let tricky: Vec<u8> = [
            "quote \" backslash \\ newline \n tab \t bell \u{7} é ü 日本 🦀 ".as_bytes(),
            &[0xff, b'x', 0xe6, 0x97],
            "本".as_bytes(),
            &[0xf0, 0x9f, 0xa6],
        ]
        .concat();
        for sizes in [vec![1], vec![2, 3], vec![5], vec![7, 1, 4], vec![1000]] {
            let body = RunJson::new(split(&tricky, &sizes), split(b"err\0", &sizes), &meta());
            let value: Value = serde_json::from_slice(&body.into_bytes()).unwrap();
            assert_eq!(
                value["stdout"],
                String::from_utf8_lossy(&tricky).as_ref(),
                "{sizes:?}"
            );
            assert_eq!(value["stderr"], "err\u{0}");
            assert_eq!(value["exit_code"], 0);
            assert_eq!(value["memory_peak"], 4096);
        }
    }

    #[test]
    fn fields_keep_the_original_order() {
        let body = RunJson::new(Captured::from(&b"a"[..]), Captured::default(), &meta());
        let text = String::from_utf8(body.into_bytes().to_vec()).unwrap();
        assert!(
            text.starts_with(r#"{"stdout":"a","stderr":"","container_age":0.5,"timeout":false,"#),
            "{text}"
        );
    }
}
