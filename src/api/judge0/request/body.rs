//! One submission's body, field by field in Judge0's units, checked with
//! Judge0's validation (every field's errors at once) into a
//! [`Submission`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::errors::Errors;
use super::source;
use super::submission::{Chosen, Submission};
use crate::api::job::{Job, StageLimits};
use crate::api::judge0::config::Config;
use crate::api::judge0::error::Judge0Error;
use crate::api::judge0::flavor::Flavor;
use crate::api::request::base64;
use crate::api::state::AppState;
use crate::languages::Language;

/// The longest `compiler_options` and `command_line_arguments`.
const MAX_OPTIONS: usize = 512;

/// Reads and checks one submission (`body`, a JSON object) against the
/// server's `config`.
///
/// `budget` is what is left of the request's unpacking budget
/// ([`REQUEST_BUDGET`](crate::api::judge0::files::REQUEST_BUDGET)); the
/// files unpacked are taken from it. This unpacks archives: call it off the
/// async runtime (see [`prepare_all`](super::prepare_all)).
pub fn prepare(
    state: &AppState,
    flavor: Flavor,
    config: &Config,
    body: &Value,
    base64_encoded: bool,
    budget: &mut u64,
) -> Result<Submission, Judge0Error> {
    let Some(body) = body.as_object() else {
        return Err(Judge0Error::Message(
            axum::http::StatusCode::BAD_REQUEST,
            "the body must be a JSON object of a submission's fields".into(),
        ));
    };
    let mut errors = Errors::default();
    let text = |field: &str, errors: &mut Errors| -> Option<Vec<u8>> {
        match body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if base64_encoded => match base64(s) {
                Ok(bytes) => Some(bytes),
                Err(_) => {
                    errors.add(field, "is not valid base64");
                    None
                }
            },
            Some(Value::String(s)) => Some(s.clone().into_bytes()),
            Some(_) => {
                errors.add(field, "must be a string");
                None
            }
        }
    };
    let source_code = text("source_code", &mut errors);
    let stdin = text("stdin", &mut errors).unwrap_or_default();
    let expected_output = text("expected_output", &mut errors);

    let language_id = match body.get("language_id") {
        None | Some(Value::Null) => {
            errors.add("language_id", "can't be blank");
            None
        }
        Some(value) => match integer(value) {
            Some(id) => Some(id),
            None => {
                errors.add("language_id", "is not a number");
                None
            }
        },
    };
    let language = language_id.and_then(|id| {
        let found = u32::try_from(id)
            .ok()
            .and_then(|id| judge0_language(state, flavor, id));
        if found.is_none() {
            errors.add(
                "language_id",
                format!("language with id {id} doesn't exist"),
            );
        }
        found
    });
    let number = |field: &str, default: f64, min: f64, max: f64, errors: &mut Errors| -> f64 {
        match body.get(field) {
            None | Some(Value::Null) => default,
            Some(value) => match float(value) {
                None => {
                    errors.add(field, "is not a number");
                    default
                }
                Some(n) if n < min => {
                    errors.add(
                        field,
                        format!("must be greater than or equal to {}", show(min)),
                    );
                    default
                }
                Some(n) if n > max => {
                    errors.add(
                        field,
                        format!("must be less than or equal to {}", show(max)),
                    );
                    default
                }
                Some(n) => n,
            },
        }
    };
    let cpu_time_limit = number(
        "cpu_time_limit",
        config.cpu_time_limit,
        0.0,
        config.max_cpu_time_limit,
        &mut errors,
    );
    let cpu_extra_time = number(
        "cpu_extra_time",
        config.cpu_extra_time,
        0.0,
        config.max_cpu_extra_time,
        &mut errors,
    );
    let wall_time_limit = number(
        "wall_time_limit",
        config.wall_time_limit,
        1.0,
        config.max_wall_time_limit,
        &mut errors,
    );
    let floor = config.memory_floor_kb() as f64;
    let memory_limit = match body.get("memory_limit").and_then(float) {
        Some(kb) if kb < floor => {
            errors.add(
                "memory_limit",
                format!(
                    "must be greater than or equal to {} (the sandbox's floor: a smaller limit cannot be told from a broken sandbox)",
                    config.memory_floor_kb()
                ),
            );
            config.memory_limit as f64
        }
        _ => number(
            "memory_limit",
            config.memory_limit as f64,
            floor,
            config.max_memory_limit as f64,
            &mut errors,
        ),
    };
    let stack_limit = number(
        "stack_limit",
        config.stack_limit as f64,
        0.0,
        config.max_stack_limit as f64,
        &mut errors,
    );
    let processes = match body.get("max_processes_and_or_threads").and_then(float) {
        Some(n) if n <= 0.0 => {
            errors.add("max_processes_and_or_threads", "must be greater than 0");
            config.max_processes_and_or_threads as f64
        }
        _ => number(
            "max_processes_and_or_threads",
            config.max_processes_and_or_threads as f64,
            0.0,
            config.max_max_processes_and_or_threads as f64,
            &mut errors,
        ),
    };
    let max_file_size = number(
        "max_file_size",
        config.max_file_size as f64,
        0.0,
        config.max_max_file_size as f64,
        &mut errors,
    );
    let number_of_runs = match body.get("number_of_runs").and_then(float) {
        Some(n) if n < 1.0 => {
            errors.add("number_of_runs", "must be greater than 0");
            1.0
        }
        _ => number(
            "number_of_runs",
            config.number_of_runs as f64,
            1.0,
            config.max_number_of_runs as f64,
            &mut errors,
        ),
    };

    let flag = |field: &str, errors: &mut Errors| -> bool {
        match body.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(_) => {
                errors.add(field, "must be true or false");
                false
            }
        }
    };
    let redirect_stderr_to_stdout = flag("redirect_stderr_to_stdout", &mut errors);
    if flag("enable_network", &mut errors) {
        errors.add("enable_network", "enabling network is not allowed");
    }
    for field in [
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
    ] {
        if flag(field, &mut errors) {
            errors.add(field, "this option cannot be enabled");
        }
    }

    let options = |field: &str, errors: &mut Errors| -> Option<(String, Vec<String>)> {
        let value = body.get(field)?;
        let Value::String(text) = value else {
            if !value.is_null() {
                errors.add(field, "must be a string");
            }
            return None;
        };
        if text.chars().count() > MAX_OPTIONS {
            errors.add(
                field,
                format!("is too long (maximum is {MAX_OPTIONS} characters)"),
            );
            return None;
        }
        match shell_words::split(text) {
            Ok(words) if words.iter().any(|w| w.contains('\0')) => {
                errors.add(field, "must not contain NUL characters");
                None
            }
            Ok(words) => Some((text.clone(), words)),
            Err(_) => {
                errors.add(field, "has an unmatched quote");
                None
            }
        }
    };
    let compiler_options = options("compiler_options", &mut errors);
    let command_line_arguments = options("command_line_arguments", &mut errors);
    // Judge0 skips the check for a blank value (`compiler_options.blank?`):
    // its IDE always sends `""`.
    if let (Some(language), Some((text, _))) = (&language, &compiler_options) {
        if !has_compile_cmd(language) && !text.trim().is_empty() {
            errors.add(
                "compiler_options",
                "setting compiler options is only allowed for compiled languages",
            );
        }
    }

    let job_files = source::job_files(
        language.as_deref(),
        source_code.as_ref(),
        body,
        state.max_files,
        budget,
        &mut errors,
    );

    if !errors.0.is_empty() {
        return Err(Judge0Error::Fields(errors.0));
    }
    let (Some(language), Some(language_id), Some(job_files)) = (language, language_id, job_files)
    else {
        unreachable!("a missing field is a field error");
    };
    // A CPU limit of 0 is no limit of its own (isolate's `-t 0`): the
    // server's maximum holds.
    let cpu_time_limit = if cpu_time_limit == 0.0 {
        config.max_cpu_time_limit
    } else {
        cpu_time_limit
    };
    let limits = Chosen {
        cpu_time_limit,
        cpu_extra_time,
        wall_time_limit,
        memory_limit: memory_limit as u64,
        stack_limit: stack_limit as u64,
        max_processes_and_or_threads: processes as u64,
        max_file_size: max_file_size as u64,
        number_of_runs: number_of_runs as u64,
    };
    let seconds = |s: f64| Duration::from_secs_f64(s.max(0.001));
    let job = Job {
        language: language.clone(),
        files: job_files,
        tool_args: compiler_options
            .as_ref()
            .map(|o| o.1.clone())
            .unwrap_or_default(),
        program_args: command_line_arguments
            .as_ref()
            .map(|o| o.1.clone())
            .unwrap_or_default(),
        stdin: stdin.clone(),
        env: language
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        compile: StageLimits::timeout(config.compile_timeout()),
        run: StageLimits {
            timeout: seconds(wall_time_limit),
            cpu_time: Some(seconds(cpu_time_limit + cpu_extra_time)),
            memory_mb: Some(limits.memory_limit.div_ceil(1024)),
            // A run step that builds first (Go, Zig) writes a binary larger
            // than Judge0's file size limit meant for the program.
            file_size: (!language.run_builds).then_some(limits.max_file_size * 1024),
            stack: Some(limits.stack_limit * 1024),
            stderr_to_stdout: redirect_stderr_to_stdout,
        },
        runs: u32::try_from(limits.number_of_runs).unwrap_or(1),
        processes: (limits.max_processes_and_or_threads != config.max_processes_and_or_threads)
            .then(|| u32::try_from(limits.max_processes_and_or_threads).unwrap_or(u32::MAX)),
    };
    let project = source::is_project(&language);
    Ok(Submission {
        job,
        language,
        language_id: u32::try_from(language_id).unwrap_or_default(),
        flavor,
        // A project's files are its archive's (Judge0 shows no source).
        source_code: source_code.filter(|_| !project),
        stdin,
        expected_output,
        redirect_stderr_to_stdout,
        limits,
        compiler_options: compiler_options.map(|o| o.0),
        command_line_arguments: command_line_arguments.map(|o| o.0),
        callback_url: None,
    })
}

/// Judge0's `compile_cmd`: the language compiles with a step of its own. A
/// multi-file program's compile is the program's own script, so Judge0
/// takes no compiler options for it, as for an interpreted language.
fn has_compile_cmd(language: &Language) -> bool {
    language.compile.is_some() && !source::is_project(language)
}

/// The language one of whose ids in `flavor` is `id`.
pub fn judge0_language(state: &AppState, flavor: Flavor, id: u32) -> Option<Arc<Language>> {
    state
        .languages
        .iter()
        .find(|l| flavor.means(l, id))
        .cloned()
}

/// An integer, or a string of one (Rails casts form values).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// A limit as Rails prints it in a message (`15`, `0.5`).
fn show(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
