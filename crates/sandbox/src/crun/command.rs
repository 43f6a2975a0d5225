//! The one way the crun engine runs a short external command (crun kill and
//! delete, podman image inspect, mount and unmount, mount and umount): no
//! stdin, a deadline, killed if dropped, and the command's own message on
//! failure.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::CommandError;

/// Runs `command` to its end within `deadline`; its stdout (trimmed), or its
/// stderr (trimmed) when it fails.
pub async fn output_within(
    mut command: Command,
    deadline: Duration,
) -> Result<String, CommandError> {
    let line = CommandError::line(&command);
    let out = command.stdin(Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(deadline, out).await {
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(Ok(out)) => Err(CommandError::Failed {
            command: line,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
        Ok(Err(source)) => Err(CommandError::Spawn {
            command: line,
            source,
        }),
        Err(_) => Err(CommandError::TimedOut {
            command: line,
            deadline,
        }),
    }
}
