//! The client's input in a session: `data` on stdin, `eof` and `signal`,
//! checked and held until the run takes it.

use std::collections::VecDeque;

use serde_json::Value;

use crate::sandbox::{signal_name, Input};

/// Most client messages waiting for the run to take them, and most signals
/// a session may send.
const MAX_PENDING: usize = 256;
const MAX_SIGNALS: usize = 64;

/// Why a client message ends the session.
pub(super) enum Refusal {
    Close(u16, &'static str),
    Notify(String),
}

/// The client's input, checked and held until the run takes it: bounded
/// in bytes (`--max-bytes` of stdin a session), in messages waiting, and in
/// signals; empty pieces and a second end of stdin are dropped.
pub(super) struct Feed {
    pending: VecDeque<Input>,
    stdin_left: u64,
    stdin_cap: u64,
    signals: usize,
    ended: bool,
}

impl Feed {
    pub(super) fn new(stdin_cap: u64) -> Feed {
        Feed {
            pending: VecDeque::new(),
            stdin_left: stdin_cap,
            stdin_cap,
            signals: 0,
            ended: false,
        }
    }

    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(super) fn next(&mut self) -> Option<Input> {
        self.pending.pop_front()
    }

    pub(super) fn take(&mut self, message: &Value) -> Result<(), Refusal> {
        let input = match message.get("type").and_then(Value::as_str) {
            Some("init") => return Err(Refusal::Close(4000, "Already Initialized")),
            Some("data") => {
                if message.get("stream").and_then(Value::as_str) != Some("stdin") {
                    return Err(Refusal::Close(4004, "Can only write to stdin"));
                }
                let data = message
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.stdin_left =
                    self.stdin_left
                        .checked_sub(data.len() as u64)
                        .ok_or_else(|| {
                            Refusal::Notify(format!(
                                "stdin is over {} bytes for this session",
                                self.stdin_cap
                            ))
                        })?;
                if data.is_empty() || self.ended {
                    return Ok(());
                }
                Input::Stdin(data.as_bytes().to_vec())
            }
            Some("eof") if self.ended => return Ok(()),
            Some("eof") => {
                self.ended = true;
                Input::EndOfStdin
            }
            Some("signal") => {
                let named = message.get("signal").and_then(Value::as_str);
                let Some(n) = named.and_then(signal_number) else {
                    return Err(Refusal::Close(4005, "Invalid signal"));
                };
                self.signals += 1;
                if self.signals > MAX_SIGNALS {
                    return Err(Refusal::Notify(format!(
                        "more than {MAX_SIGNALS} signals in one session"
                    )));
                }
                Input::Signal(n)
            }
            // Piston ignores what it does not know; so does this.
            _ => return Ok(()),
        };
        if self.pending.len() >= MAX_PENDING {
            return Err(Refusal::Notify(
                "input is arriving faster than the program takes it".into(),
            ));
        }
        self.pending.push_back(input);
        Ok(())
    }
}

/// `SIGTERM` → 15, as Piston names them.
fn signal_number(name: &str) -> Option<i32> {
    (1..=31).find(|&n| signal_name(n) == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_is_bounded_in_bytes_messages_and_signals() {
        let data = |d: &str| json!({"type": "data", "stream": "stdin", "data": d});
        let mut feed = Feed::new(10);
        assert!(feed.take(&data("12345")).is_ok());
        assert!(feed.take(&data("")).is_ok());
        assert_eq!(feed.pending.len(), 1, "an empty piece is dropped");
        assert!(matches!(
            feed.take(&data("123456")),
            Err(Refusal::Notify(_))
        ));
        let mut feed = Feed::new(1 << 20);
        for _ in 0..MAX_SIGNALS {
            assert!(feed
                .take(&json!({"type": "signal", "signal": "SIGCONT"}))
                .is_ok());
        }
        assert!(matches!(
            feed.take(&json!({"type": "signal", "signal": "SIGCONT"})),
            Err(Refusal::Notify(_))
        ));
        let mut feed = Feed::new(1 << 20);
        for _ in 0..MAX_PENDING {
            assert!(feed.take(&data("x")).is_ok());
        }
        assert!(matches!(feed.take(&data("x")), Err(Refusal::Notify(_))));
        let mut feed = Feed::new(1 << 20);
        assert!(feed.take(&json!({"type": "eof"})).is_ok());
        assert!(feed.take(&json!({"type": "eof"})).is_ok());
        assert!(feed.take(&data("late")).is_ok());
        assert_eq!(
            feed.pending,
            [Input::EndOfStdin],
            "once, and nothing after it"
        );
        assert!(matches!(
            feed.take(&json!({"type": "signal", "signal": "SIGNOPE"})),
            Err(Refusal::Close(4005, _))
        ));
    }
}
