//! Wire shapes of answers the code builds from JSON values instead of a
//! typed struct (Judge0's answers assembled field by field for `fields`,
//! refusals made by the error types), for the description only. Every
//! request is a typed struct that serde reads and that describes itself
//! where it is defined (`RunBody`, `PistonExecute`, `Judge0Submission`,
//! `Judge0Batch`), as are the typed answers (`/run`'s, Piston's results and
//! runtimes, `/ready`, `/languages`, Judge0's `config_info`).

#![allow(dead_code)] // Read by the derives only: nothing constructs these.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// whipcode's refusal: the status, and why.
#[derive(Serialize, ToSchema)]
pub struct Detail {
    pub detail: String,
}

/// `POST /run`'s answer: the output, then the run's figures.
#[derive(Serialize, ToSchema)]
pub struct RunAnswer {
    pub stdout: String,
    pub stderr: String,
    #[serde(flatten)]
    pub meta: crate::api::body::RunMeta,
}

/// `POST /tickets`' answer.
#[derive(Serialize, ToSchema)]
pub struct Ticket {
    /// Offered as the WebSocket subprotocol `whipcode.ticket.<ticket>`.
    pub ticket: String,
    /// Always `interactive`.
    pub scope: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// Piston's refusal.
#[derive(Serialize, ToSchema)]
pub struct PistonMessage {
    pub message: String,
}

/// Judge0's refusal of its own or of whipcode's.
#[derive(Serialize, ToSchema)]
pub struct Judge0Message {
    pub error: String,
}

/// Judge0's 422: each field's problems.
#[derive(Serialize, ToSchema)]
#[schema(as = Judge0FieldErrors)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

/// A submission's status.
#[derive(Serialize, ToSchema)]
pub struct Judge0Status {
    pub id: i64,
    pub description: String,
}

/// A language as Judge0 lists it.
#[derive(Serialize, ToSchema)]
pub struct Judge0Language {
    pub id: i64,
    pub name: String,
}

/// A submission as Judge0 shows it: the attributes `fields` names (its
/// default set without it). Texts are base64 with `base64_encoded=true`.
#[derive(Serialize, ToSchema)]
pub struct Judge0View {
    pub token: Option<String>,
    pub source_code: Option<String>,
    pub language_id: Option<i64>,
    pub stdin: Option<String>,
    pub expected_output: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub compile_output: Option<String>,
    pub message: Option<String>,
    pub status_id: Option<i64>,
    pub status: Option<Judge0Status>,
    pub language: Option<Judge0Language>,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    /// Seconds, as a decimal string (`"0.012"`).
    pub time: Option<String>,
    pub wall_time: Option<String>,
    /// KB.
    pub memory: Option<i64>,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<i64>,
    pub number_of_runs: Option<i64>,
    pub cpu_time_limit: Option<String>,
    pub cpu_extra_time: Option<String>,
    pub wall_time_limit: Option<String>,
    pub memory_limit: Option<i64>,
    pub stack_limit: Option<i64>,
    pub max_processes_and_or_threads: Option<i64>,
    pub enable_per_process_and_thread_time_limit: Option<bool>,
    pub enable_per_process_and_thread_memory_limit: Option<bool>,
    pub max_file_size: Option<i64>,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    pub redirect_stderr_to_stdout: Option<bool>,
    pub callback_url: Option<String>,
    pub additional_files: Option<String>,
    pub enable_network: Option<bool>,
}

/// `POST /submissions` without `wait=true`.
#[derive(Serialize, ToSchema)]
pub struct Judge0Token {
    pub token: String,
}

/// One answer of a batch: a token, or that submission's field errors.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Judge0BatchItem {
    Token(Judge0Token),
    Errors(FieldErrors),
}

/// `GET /submissions/batch`: `null` for a token not known.
#[derive(Serialize, ToSchema)]
pub struct Judge0BatchView {
    pub submissions: Vec<Option<Judge0View>>,
}

/// `GET /workers`: the queue, as Judge0 shows its queues.
#[derive(Serialize, ToSchema)]
pub struct Judge0Worker {
    pub queue: String,
    pub size: i64,
    pub available: i64,
    pub idle: i64,
    pub working: i64,
    pub paused: i64,
    pub failed: i64,
}

/// `GET /languages/{id}`.
#[derive(Serialize, ToSchema)]
pub struct Judge0LanguageDetail {
    pub id: i64,
    pub name: String,
    pub is_archived: bool,
    pub source_file: Option<String>,
    pub compile_cmd: Option<String>,
    pub run_cmd: Option<String>,
}

/// `GET /about`.
#[derive(Serialize, ToSchema)]
pub struct Judge0About {
    pub version: String,
    pub homepage: String,
    pub source_code: String,
    pub maintainer: String,
}

/// The answers of a WebSocket upgrade (`/connect`) with refusals in
/// Piston's shape: one list for `/api/v2/connect` and `/api/v2/connect/`.
#[derive(utoipa::IntoResponses)]
pub enum PistonUpgrade {
    /// Switching to the WebSocket protocol
    #[response(status = 101)]
    Switching,
    /// Not a WebSocket upgrade request
    #[response(status = 400)]
    NotAnUpgrade(PistonMessage),
    /// A browser's request carrying the key, or an origin not allowed
    #[response(status = 403)]
    Forbidden(PistonMessage),
}

/// The answers of whipcode's `GET /connect`, refusals in its own shape.
#[derive(utoipa::IntoResponses)]
pub enum WhipcodeUpgrade {
    /// Switching to the WebSocket protocol
    #[response(status = 101)]
    Switching,
    /// Not a WebSocket upgrade request
    #[response(status = 400)]
    NotAnUpgrade(Detail),
    /// A browser's request carrying the key, or an origin not allowed
    #[response(status = 403)]
    Forbidden(Detail),
}
