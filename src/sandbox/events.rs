//! Reading the runner's event frames (`Started`, output, `Exit`) from a
//! container's stream into what a run produced: output kept within the byte
//! cap, the program's own deadline counted from its start, and how the
//! stream ended.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use whipcode_runner::{parse_header, Event, ExitReport};

use super::job::RunOutcome;
use super::output::Captured;

/// Largest event frame accepted from a container.
const MAX_EVENT: usize = 1024 * 1024;

/// Output gathered so far.
#[derive(Default)]
pub struct Output {
    pub stdout: Captured,
    pub stderr: Captured,
    /// The runner reported that the program started.
    pub started: bool,
}

impl Output {
    pub fn into_outcome(self, outcome: &mut RunOutcome) {
        outcome.stdout = self.stdout;
        outcome.stderr = self.stderr;
    }
}

/// How reading a run's events ended.
pub enum Collected {
    Exit(Output, ExitReport),
    TimedOut(Output),
    Truncated(Output),
    /// The stream ended without an exit report.
    Ended(Output),
    /// The runner's channel broke the protocol (malformed or too many
    /// frames); what was captured until then.
    Broken(Output, String),
    /// The container never reported the program's start, or the runner
    /// reported a failure of its own (e.g. a compiler it cannot start).
    Failed(String),
}

/// Most event frames one run may send: with output frames of at least a
/// few bytes, far above what the output caps let through.
pub fn max_events(output_limit: usize) -> usize {
    output_limit.saturating_mul(2) / 4 + 4096
}

/// Reads events until the exit report, the deadline, the output cap or EOF.
pub async fn collect(
    stream: &mut (impl AsyncRead + Unpin),
    start_deadline: Duration,
    timeout: Duration,
    output_limit: usize,
) -> Collected {
    let mut out = Output::default();
    let mut deadline = tokio::time::Instant::now() + start_deadline;
    let most = max_events(output_limit);
    for _ in 0..most {
        let frame = match tokio::time::timeout_at(deadline, read_event(stream)).await {
            Err(_) if out.started => return Collected::TimedOut(out),
            Err(_) => return Collected::Failed("container did not start in time".into()),
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => return Collected::Ended(out),
            Ok(Err(e)) if out.started => {
                return Collected::Broken(out, format!("malformed frame: {e}"))
            }
            Ok(Err(e)) => return Collected::Failed(format!("bad event stream: {e}")),
        };
        match frame {
            Event::Started if !out.started => {
                out.started = true;
                deadline = tokio::time::Instant::now() + timeout;
            }
            Event::Started => {}
            Event::Stdout(bytes) => {
                if out.stdout.push_capped(bytes, output_limit) {
                    return Collected::Truncated(out);
                }
            }
            Event::Stderr(bytes) => {
                if out.stderr.push_capped(bytes, output_limit) {
                    return Collected::Truncated(out);
                }
            }
            Event::Exit(report) => return Collected::Exit(out, report),
            Event::Error(message) => return Collected::Failed(message),
        }
    }
    Collected::Broken(out, format!("more than {most} frames"))
}

async fn read_event(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Event>> {
    let mut header = [0u8; 5];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (tag, len) = parse_header(&header)?;
    if len > MAX_EVENT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("event of {len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Event::decode(tag, payload).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::AsyncWriteExt;

    const START: Duration = Duration::from_secs(60);

    fn frames(events: &[Event]) -> Vec<u8> {
        let mut buf = Vec::new();
        for e in events {
            e.encode_into(&mut buf);
        }
        buf
    }

    #[tokio::test]
    async fn output_is_capped_while_it_streams() {
        let chunk = Event::Stdout(vec![b'x'; 1000]);
        let bytes = frames(&[Event::Started, chunk.clone(), chunk.clone(), chunk]);
        match collect(&mut bytes.as_slice(), START, Duration::from_secs(5), 2500).await {
            Collected::Truncated(out) => assert_eq!(out.stdout.len(), 2500),
            _ => panic!("expected truncation"),
        }
    }

    #[tokio::test]
    async fn the_exit_report_ends_collection_without_waiting_for_eof() {
        let report = ExitReport {
            code: Some(3),
            signal: None,
            cpu_micros: 10,
        };
        let mut bytes = frames(&[
            Event::Started,
            Event::Stdout(b"a".to_vec()),
            Event::Stderr(b"b".to_vec()),
            Event::Exit(report),
        ]);
        bytes.extend_from_slice(b"trailing garbage is never read");
        match collect(&mut bytes.as_slice(), START, Duration::from_secs(5), 100).await {
            Collected::Exit(out, r) => {
                assert_eq!(
                    (out.stdout.to_vec(), out.stderr.to_vec(), r),
                    (b"a".to_vec(), b"b".to_vec(), report)
                );
            }
            _ => panic!("expected exit"),
        }
    }

    #[tokio::test]
    async fn a_silent_program_times_out_after_its_own_timeout() {
        let (mut client, mut server) = tokio::io::duplex(64);
        server.write_all(&frames(&[Event::Started])).await.unwrap();
        let started = Instant::now();
        match collect(&mut client, START, Duration::from_millis(200), 100).await {
            Collected::TimedOut(out) => assert!(out.started),
            _ => panic!("expected a timeout"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(server);
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_reported_as_ended() {
        let bytes = frames(&[Event::Started, Event::Stdout(b"partial".to_vec())]);
        match collect(&mut bytes.as_slice(), START, Duration::from_secs(5), 100).await {
            Collected::Ended(out) => assert_eq!(out.stdout.to_vec(), b"partial"),
            _ => panic!("expected ended"),
        }
    }

    #[tokio::test]
    async fn a_malformed_frame_after_the_start_keeps_what_was_captured() {
        let mut bytes = frames(&[Event::Started, Event::Stdout(b"kept".to_vec())]);
        bytes.extend_from_slice(&[0xee, 0, 0, 0, 1, b'x']);
        match collect(&mut bytes.as_slice(), START, Duration::from_secs(5), 100).await {
            Collected::Broken(out, reason) => {
                assert_eq!(out.stdout.to_vec(), b"kept");
                assert!(reason.contains("malformed"), "{reason}");
            }
            _ => panic!("expected a broken channel"),
        }
        let garbage = [0xeeu8, 0, 0, 0, 1, b'x'];
        assert!(matches!(
            collect(&mut garbage.as_slice(), START, Duration::from_secs(5), 100).await,
            Collected::Failed(_)
        ));
    }

    #[tokio::test]
    async fn empty_frames_count_against_the_frame_bound() {
        let limit = 100;
        let mut events = vec![Event::Started];
        events.extend(std::iter::repeat_n(
            Event::Stdout(Vec::new()),
            max_events(limit) + 10,
        ));
        let bytes = frames(&events);
        match collect(&mut bytes.as_slice(), START, Duration::from_secs(5), limit).await {
            Collected::Broken(out, reason) => {
                assert!(out.stdout.is_empty());
                assert!(reason.contains("frames"), "{reason}");
            }
            _ => panic!("expected the frame bound"),
        }
    }
}
