//! What a checked submission is: the job, and what its verdict and answer
//! need.

use std::sync::Arc;

use crate::api::job::Job;
use crate::api::judge0::flavor::Flavor;
use crate::languages::Language;

/// A submission ready to run, with what the verdict needs.
#[derive(Debug)]
pub struct Submission {
    pub job: Job,
    pub language: Arc<Language>,
    /// The id the client named (one of the language's Judge0 ids).
    pub language_id: u32,
    /// The flavour whose ids `language_id` is one of.
    pub flavor: Flavor,
    /// `None` for a multi-file program: its files are its archive's.
    pub source_code: Option<Vec<u8>>,
    pub stdin: Vec<u8>,
    pub expected_output: Option<Vec<u8>>,
    pub redirect_stderr_to_stdout: bool,
    pub limits: Chosen,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    /// Checked against the allow-list when the submission is made.
    pub callback_url: Option<url::Url>,
}

/// The limits a submission runs under, in Judge0's units (s, KB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    pub cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub memory_limit: u64,
    pub stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub max_file_size: u64,
    pub number_of_runs: u64,
}
