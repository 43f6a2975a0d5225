//! What a build is asked to do, and what became of each image.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("build log directory: {0}")]
    LogDir(#[from] super::logs::LogDirError),
    /// The language map names images it cannot order (a cycle, a missing recipe).
    #[error(transparent)]
    Plan(crate::languages::error::BuildOrderError),
    #[error("{} image(s) failed: {}", .0.len(), .0.join(", "))]
    Failed(Vec<String>),
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Images built at once.
    pub jobs: usize,
    pub log_dir: PathBuf,
    /// Remove project images no recipe names any more (only when building all).
    pub prune_unlisted: bool,
    /// Where fetched files are kept, by checksum, between builds.
    pub download_dir: PathBuf,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    Built {
        seconds: u64,
    },
    Failed {
        log: PathBuf,
    },
    /// Not attempted: an image it builds on failed.
    Blocked {
        on: String,
    },
}

/// Why building one image failed; written at the end of the image's log.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{step} failed: {detail}")]
    Failed { step: String, detail: String },
    #[error("{url} has SHA-256 {got}, the recipe expects {want}")]
    Checksum {
        url: String,
        got: String,
        want: String,
    },
    #[error("image {0} is missing after its build")]
    Missing(String),
    #[error("{0} is missing: debootstrap checks Debian's signatures with it (apt-get install debian-archive-keyring)")]
    NoKeyring(&'static str),
}

impl BuildError {
    /// An I/O error about `what` (a path, or what was being made).
    pub fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.to_string();
        move |source| BuildError::Io { what, source }
    }

    /// `program` could not be started.
    pub fn spawn(program: &'static str) -> impl FnOnce(std::io::Error) -> BuildError {
        move |source| BuildError::Spawn { program, source }
    }

    pub fn failed(step: impl Into<String>, detail: impl std::fmt::Display) -> BuildError {
        BuildError::Failed {
            step: step.into(),
            detail: detail.to_string(),
        }
    }
}
