//! What a build is asked to do, and what became of each image.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Setup(String),
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
