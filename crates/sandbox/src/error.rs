//! What went wrong beneath a run, each error keeping its cause: a command
//! the sandbox runs on the host, or an engine (crun or podman). A run's
//! caller sees them inside [`crate::SandboxError::Engine`].

use std::time::Duration;

use tokio::process::Command;

use crate::podman::api::PodmanError;

/// A short external command (crun, podman, mount, umount) that failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed; its own message (stderr, trimmed).
    #[error("{command}: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{command}: no answer within {deadline:?}")]
    TimedOut { command: String, deadline: Duration },
}

impl CommandError {
    /// What the command said on stderr, when it ran and failed.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            CommandError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }

    /// `command` as a line for messages: the program and its arguments.
    pub fn line(command: &Command) -> String {
        let command = command.as_std();
        std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What an engine could not do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Podman(#[from] PodmanError),
    /// A file or system call on the host; `doing` says what for.
    #[error("{doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
    /// A task of the sandbox's (a start, a blocking file operation) that
    /// panicked or was cancelled.
    #[error("a task of the sandbox ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// What the engine saw go wrong itself, with nothing failing beneath it
    /// (a container that would not die, a start that never came).
    #[error("{0}")]
    Failed(String),
}

impl EngineError {
    /// An I/O error's conversion, saying what was being done.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let doing = doing.into();
        move |source| EngineError::Io { doing, source }
    }

    pub fn failed(what: impl Into<String>) -> EngineError {
        EngineError::Failed(what.into())
    }
}
