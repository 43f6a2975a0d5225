//! What a session sends the client: the run's events as `stage`, `data`
//! and `exit` messages, `error` messages, and Piston's close codes.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde_json::{json, Value};

use crate::api::piston::response::StageResult;
use crate::sandbox::{signal_name, LiveEvent, RunOutcome};

/// What goes to the client: `data` as text, a character split between two
/// chunks kept whole, and the stages whose `exit` was sent.
#[derive(Default)]
pub(super) struct Outgoing {
    pub(super) exited: Vec<String>,
    /// An incomplete UTF-8 character at the end of the last stdout and
    /// stderr chunk, completed by the next.
    carry: [Vec<u8>; 2],
}

impl Outgoing {
    pub(super) async fn forward(
        &mut self,
        socket: &mut WebSocket,
        event: LiveEvent,
    ) -> Result<(), axum::Error> {
        let message = match event {
            LiveEvent::Stage(name) => json!({"type": "stage", "stage": name}),
            LiveEvent::Stdout(bytes) | LiveEvent::Stderr(bytes) if bytes.is_empty() => {
                return Ok(())
            }
            LiveEvent::Stdout(bytes) => {
                let data = self.text(0, &bytes);
                if data.is_empty() {
                    return Ok(());
                }
                json!({"type": "data", "stream": "stdout", "data": data})
            }
            LiveEvent::Stderr(bytes) => {
                let data = self.text(1, &bytes);
                if data.is_empty() {
                    return Ok(());
                }
                json!({"type": "data", "stream": "stderr", "data": data})
            }
            LiveEvent::StageEnd { name, code, signal } => {
                let message = json!({"type": "exit", "stage": name, "code": code,
                                     "signal": signal.map(signal_name)});
                self.exited.push(name);
                message
            }
        };
        send(socket, &message).await
    }

    /// `bytes` after the stream's carry, as text; an incomplete character
    /// at the end waits for the next chunk, invalid bytes are U+FFFD.
    fn text(&mut self, stream: usize, bytes: &[u8]) -> String {
        let mut all = std::mem::take(&mut self.carry[stream]);
        all.extend_from_slice(bytes);
        let keep = incomplete_tail(&all);
        self.carry[stream] = all.split_off(keep);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Where an incomplete character at the end of `bytes` starts (its length
/// when the end is complete); anything invalid is left for U+FFFD.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let at = bytes.len() - back;
        let b = bytes[at];
        if b & 0xC0 != 0x80 {
            let needed = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { at } else { bytes.len() };
        }
    }
    bytes.len()
}

/// The next text message as JSON; `None` when the client closed or the
/// socket broke. Pings are answered by the library; other frames are skipped.
pub(super) async fn next_message(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub(super) async fn send(socket: &mut WebSocket, message: &Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(message.to_string().into())).await
}

/// The `exit` of a stage a limit ended (its status and message say which),
/// then the close.
pub(super) async fn finish(mut socket: WebSocket, outcome: &RunOutcome, exited: &[String]) {
    let last = outcome.stages.len().saturating_sub(1);
    for (i, stage) in outcome.stages.iter().enumerate() {
        if exited.contains(&stage.name) {
            continue;
        }
        let result = StageResult::of(stage, (i == last).then_some(outcome));
        let message = json!({"type": "exit", "stage": stage.name, "code": result.code,
                             "signal": result.signal, "status": result.status,
                             "message": result.message});
        if send(&mut socket, &message).await.is_err() {
            return;
        }
    }
    close(socket, 4999, "Job Completed").await;
}

/// Piston's 4002: an `error` message, then the close.
pub(super) async fn notify(mut socket: WebSocket, message: &str) {
    let _ = send(&mut socket, &json!({"type": "error", "message": message})).await;
    close(socket, 4002, "Notified Error").await;
}

pub(super) async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_between_chunks_arrives_whole() {
        let mut out = Outgoing::default();
        let e_acute = "é".as_bytes();
        assert_eq!(out.text(0, &[b'a', e_acute[0]]), "a");
        assert_eq!(out.text(1, b"err"), "err", "each stream its own carry");
        assert_eq!(out.text(0, &[e_acute[1], b'b']), "éb");
        let snowman = "☃".as_bytes();
        assert_eq!(out.text(0, &snowman[..1]), "");
        assert_eq!(out.text(0, &snowman[1..2]), "");
        assert_eq!(out.text(0, &snowman[2..]), "☃");
        // Invalid bytes are U+FFFD, not held back.
        assert_eq!(out.text(0, &[0xff, b'x']), "\u{fffd}x");
    }
}
