//! This server's Judge0 limits, defaults and switches: what `POST
//! /submissions` validates against and what `GET /config_info` reports, in
//! Judge0's units (seconds, KB), from the service's own settings.

use std::time::Duration;

use serde::Serialize;

use crate::api::state::AppState;

/// The most submissions in one batch, and tokens in one batch read.
pub const MAX_BATCH: usize = 20;

/// What the asynchronous API adds, when the server has it.
#[derive(Debug, Clone, Copy)]
pub struct Async {
    /// Submissions that may be queued or running at once.
    pub queue: usize,
    /// Callbacks have somewhere they may go.
    pub callbacks: bool,
}
use crate::sandbox::MEMORY_FLOOR_MB;

/// `GET /config_info`, every field Judge0 CE 1.13.1 reports.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Judge0Config)]
pub struct Config {
    pub maintenance_mode: bool,
    pub enable_wait_result: bool,
    pub enable_compiler_options: bool,
    pub allowed_languages_for_compile_options: Vec<String>,
    pub enable_command_line_arguments: bool,
    pub enable_submission_delete: bool,
    pub enable_callbacks: bool,
    pub callbacks_max_tries: u32,
    pub callbacks_timeout: f64,
    pub enable_additional_files: bool,
    pub max_queue_size: u32,
    pub cpu_time_limit: f64,
    pub max_cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub max_cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub max_wall_time_limit: f64,
    pub memory_limit: u64,
    pub max_memory_limit: u64,
    pub stack_limit: u64,
    pub max_stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub max_max_processes_and_or_threads: u64,
    pub enable_per_process_and_thread_time_limit: bool,
    pub allow_enable_per_process_and_thread_time_limit: bool,
    pub enable_per_process_and_thread_memory_limit: bool,
    pub allow_enable_per_process_and_thread_memory_limit: bool,
    pub max_file_size: u64,
    pub max_max_file_size: u64,
    pub number_of_runs: u64,
    pub max_number_of_runs: u64,
    pub redirect_stderr_to_stdout: bool,
    pub max_extract_size: u64,
    pub enable_batched_submissions: bool,
    pub max_submission_batch_size: u32,
    pub submission_cache_duration: f64,
    pub use_docs_as_homepage: bool,
    pub allow_enable_network: bool,
    pub enable_network: bool,
}

/// Judge0's defaults where this server's settings allow them.
const CPU_TIME: f64 = 5.0;
const MAX_CPU_EXTRA: f64 = 5.0;
const CPU_EXTRA: f64 = 1.0;
const WALL_TIME: f64 = 10.0;
const MEMORY_KB: u64 = 128_000;
const STACK_KB: u64 = 64_000;
const MAX_STACK_KB: u64 = 128_000;
const MAX_PROCESSES: u64 = 120;
const FILE_SIZE_KB: u64 = 1024;
const MAX_FILE_SIZE_KB: u64 = 4096;
const MAX_RUNS: u64 = 20;

impl Config {
    /// The limits of a server with `state`'s settings: a maximum is the
    /// smaller of Judge0's and this server's, a default at most its maximum.
    /// The default process count is the sandbox's own (a request that
    /// changes it gets a container of its own, not a warm one).
    pub fn of(state: &AppState, service: Option<Async>) -> Config {
        let callbacks = service.is_some_and(|s| s.callbacks);
        let max_time = state.max_timeout.as_secs_f64();
        let max_memory = u64::from(state.limits.memory_mb) * 1024;
        Config {
            maintenance_mode: false,
            enable_wait_result: true,
            enable_compiler_options: true,
            allowed_languages_for_compile_options: Vec::new(),
            enable_command_line_arguments: true,
            enable_submission_delete: false,
            enable_callbacks: callbacks,
            callbacks_max_tries: super::callback::TRIES,
            callbacks_timeout: super::callback::TIMEOUT.as_secs_f64(),
            enable_additional_files: true,
            max_queue_size: service.map_or(0, |s| s.queue as u32),
            cpu_time_limit: CPU_TIME.min(max_time),
            max_cpu_time_limit: max_time,
            cpu_extra_time: CPU_EXTRA,
            max_cpu_extra_time: MAX_CPU_EXTRA,
            wall_time_limit: WALL_TIME.min(max_time),
            max_wall_time_limit: max_time,
            memory_limit: MEMORY_KB.min(max_memory),
            max_memory_limit: max_memory,
            stack_limit: STACK_KB,
            max_stack_limit: MAX_STACK_KB,
            max_processes_and_or_threads: u64::from(state.limits.pids),
            max_max_processes_and_or_threads: MAX_PROCESSES.max(u64::from(state.limits.pids)),
            enable_per_process_and_thread_time_limit: false,
            allow_enable_per_process_and_thread_time_limit: false,
            enable_per_process_and_thread_memory_limit: false,
            allow_enable_per_process_and_thread_memory_limit: false,
            max_file_size: FILE_SIZE_KB,
            max_max_file_size: MAX_FILE_SIZE_KB,
            number_of_runs: 1,
            max_number_of_runs: MAX_RUNS,
            redirect_stderr_to_stdout: false,
            max_extract_size: super::files::MAX_UNPACKED / 1024,
            enable_batched_submissions: service.is_some(),
            max_submission_batch_size: MAX_BATCH as u32,
            submission_cache_duration: 0.0,
            use_docs_as_homepage: false,
            allow_enable_network: false,
            enable_network: false,
        }
    }

    /// The least memory a run may be given, in KB (the sandbox's floor).
    pub fn memory_floor_kb(&self) -> u64 {
        MEMORY_FLOOR_MB * 1024
    }

    /// The compile stage's wall-clock limit: the server's maximum.
    pub fn compile_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.max_wall_time_limit)
    }
}
