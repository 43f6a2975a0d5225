//! One `crun run` child of the server: spawned with its stdio as pipes, its
//! exit published once it is reaped, a way to kill it, and the task that
//! reads its pipes within the container's budget.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{watch, Notify};

use crate::engine::{Budget, Demuxed, STDERR_CAP};

/// A `crun run` this process started: how it exited (`None` while it runs)
/// and a way to kill it.
#[derive(Clone)]
pub struct Handle {
    exit: watch::Receiver<Option<i32>>,
    kill: Arc<Notify>,
}

/// The child's pipes.
pub struct Pipes {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Spawns `command` (a `crun run`) with piped stdio, in a process group of
/// its own (a terminal's ^C to the server is not the container's); a task
/// reaps it and publishes its exit.
pub fn spawn(mut command: Command) -> std::io::Result<(Pipes, Handle)> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(std::io::Error::other("crun's pipes were not made"));
    };
    let (exited, exit) = watch::channel(None);
    let kill = Arc::new(Notify::new());
    let killed = Arc::clone(&kill);
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            () = killed.notified() => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let _ = exited.send(Some(status.map_or(-1, exit_code)));
    });
    Ok((
        Pipes {
            stdin,
            stdout,
            stderr,
        },
        Handle { exit, kill },
    ))
}

impl Handle {
    /// Whether it has exited (and was reaped).
    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Waits up to `patience` for its exit; whether it came.
    pub async fn exited_within(&mut self, patience: Duration) -> bool {
        tokio::time::timeout(patience, self.exit.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Kills the `crun run` process itself (SIGKILL), when its container
    /// cannot be killed through crun.
    pub fn kill(&self) {
        self.kill.notify_one();
    }

    /// The exit code, waiting up to `patience` for it.
    pub async fn exit_code(mut self, patience: Duration) -> Option<i32> {
        tokio::time::timeout(patience, self.exit.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()
            .and_then(|code| *code)
    }
}

/// A `crun run`'s status as the container's exit code: crun exits with the
/// container's code (128 + n when a signal n ended it). crun itself ended by
/// a signal counts the same way.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Copies the runner's events (stdout) to `events` and keeps the start of
/// stderr (crun's or the runner's messages), until both pipes end or the
/// container goes over its budget (then `events` ends too).
pub async fn read_pipes(
    mut stdout: ChildStdout,
    mut stderr_pipe: ChildStderr,
    events: DuplexStream,
    budget: Budget,
) -> Demuxed {
    let mut events = Some(events);
    let mut stderr = Vec::new();
    let mut sent = 0u64;
    let (mut out, mut err) = (vec![0u8; 64 * 1024], vec![0u8; 8 * 1024]);
    let mut err_open = true;
    while events.is_some() || err_open {
        let n = tokio::select! {
            read = stdout.read(&mut out), if events.is_some() => match read {
                Ok(n) if n > 0 => {
                    let written = match events.as_mut() {
                        Some(e) => e.write_all(&out[..n]).await.is_ok(),
                        None => false,
                    };
                    if !written {
                        events = None;
                    }
                    n
                }
                _ => {
                    events = None;
                    0
                }
            },
            read = stderr_pipe.read(&mut err), if err_open => match read {
                Ok(n) if n > 0 => {
                    let room = STDERR_CAP.saturating_sub(stderr.len());
                    stderr.extend_from_slice(&err[..n.min(room)]);
                    n
                }
                _ => {
                    err_open = false;
                    0
                }
            },
        };
        sent += n as u64;
        if sent > budget.bytes {
            return Demuxed {
                stderr,
                over_budget: Some(budget.over()),
            };
        }
    }
    Demuxed {
        stderr,
        over_budget: None,
    }
}
