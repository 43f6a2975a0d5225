//! A submission as Judge0 CE 1.13.1 takes it (`submission_params`): one
//! typed struct that serde reads and the OpenAPI document describes, each
//! field beside its rule. A field's name is its ident (serde's key, the
//! 422's key and its rule's name alike); a limit's default and maximum are
//! the server's ([`Config`]).
//!
//! Judge0 reads Rails params, so every field is [`Lenient`]: a number may
//! come as a string of one, and a field of the wrong type is that field's
//! error among the others, not a refusal of the whole body.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::judge0::config::Config;
use crate::api::judge0::error::Judge0Error;
use crate::api::lenient::Lenient;
use crate::api::request::base64;

/// The longest `compiler_options` and `command_line_arguments`.
const MAX_OPTIONS: usize = 512;

/// A submission as Judge0 takes it (`base64_encoded=true`: the texts in
/// base64). Other fields are ignored, as Judge0's `permit` ignores them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(example = json!({"source_code": "print(input())", "language_id": 71, "stdin": "hello", "expected_output": "hello"}))]
pub struct Judge0Submission {
    /// Required, except for a multi-file program (89), which has none.
    #[serde(default)]
    pub source_code: Lenient<String>,
    /// A Judge0 language id (`GET /languages`).
    #[schema(required = true)]
    #[serde(default)]
    pub language_id: Lenient<i64>,
    #[serde(default)]
    pub stdin: Lenient<String>,
    #[serde(default)]
    pub expected_output: Lenient<String>,
    /// At most 512 characters; only for a compiled language.
    #[serde(default)]
    pub compiler_options: Lenient<String>,
    /// At most 512 characters.
    #[serde(default)]
    pub command_line_arguments: Lenient<String>,
    #[serde(default)]
    pub number_of_runs: Lenient<i64>,
    /// Seconds; 0: the server's maximum.
    #[serde(default)]
    pub cpu_time_limit: Lenient<f64>,
    /// Seconds.
    #[serde(default)]
    pub cpu_extra_time: Lenient<f64>,
    /// Seconds.
    #[serde(default)]
    pub wall_time_limit: Lenient<f64>,
    /// KB.
    #[serde(default)]
    pub memory_limit: Lenient<i64>,
    /// KB.
    #[serde(default)]
    pub stack_limit: Lenient<i64>,
    #[serde(default)]
    pub max_processes_and_or_threads: Lenient<i64>,
    /// Refused when `true`.
    #[serde(default)]
    pub enable_per_process_and_thread_time_limit: Lenient<bool>,
    /// Refused when `true`.
    #[serde(default)]
    pub enable_per_process_and_thread_memory_limit: Lenient<bool>,
    /// KB.
    #[serde(default)]
    pub max_file_size: Lenient<i64>,
    #[serde(default)]
    pub redirect_stderr_to_stdout: Lenient<bool>,
    /// Must be allowed by `callbackAllow`.
    #[serde(default)]
    pub callback_url: Lenient<String>,
    /// A base64 zip unpacked beside the source; a multi-file program's
    /// every file (its `run` script and optional `compile` script).
    #[serde(default)]
    pub additional_files: Lenient<String>,
    /// Always refused when `true` (runs have no network).
    #[serde(default)]
    pub enable_network: Lenient<bool>,
}

/// `POST /submissions/batch`: 1 to 20 submissions. Each is read as its own
/// body ([`Judge0Submission::from_body`]), so that one which is not an
/// object is refused as `POST /submissions` refuses it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"submissions": [{"source_code": "print(1)", "language_id": 71}]}))]
pub struct Judge0Batch {
    #[schema(value_type = Vec<Judge0Submission>, required = true, min_items = 1, max_items = 20)]
    /// Read as it came (moved, not copied: a batch may carry megabytes of
    /// source), each item then read as [`Judge0Submission`].
    #[serde(default)]
    pub submissions: Value,
}

impl Judge0Batch {
    /// A batch's body; `None` when it is not `{"submissions": [...]}`.
    pub fn from_body(body: Value) -> Option<Vec<Value>> {
        let batch = body
            .is_object()
            .then(|| Judge0Batch::deserialize(body).ok())??;
        match batch.submissions {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

impl Judge0Submission {
    /// One submission's body: a JSON object (serde would read an array
    /// field by field in order, which Judge0 does not).
    pub fn from_body(body: Value) -> Result<Judge0Submission, Judge0Error> {
        let refused = || {
            Judge0Error::Message(
                axum::http::StatusCode::BAD_REQUEST,
                "the body must be a JSON object of a submission's fields".into(),
            )
        };
        if !body.is_object() {
            return Err(refused());
        }
        Judge0Submission::deserialize(body).map_err(|_| refused())
    }
}

/// The rules, one per field and named after it: each gives the field's
/// value (absent: its default) or its error, in Judge0's words.
impl Judge0Submission {
    pub(super) fn source_code(&self, base64_encoded: bool) -> Result<Option<Vec<u8>>, String> {
        text(&self.source_code, base64_encoded)
    }

    pub(super) fn stdin(&self, base64_encoded: bool) -> Result<Vec<u8>, String> {
        Ok(text(&self.stdin, base64_encoded)?.unwrap_or_default())
    }

    pub(super) fn expected_output(&self, base64_encoded: bool) -> Result<Option<Vec<u8>>, String> {
        text(&self.expected_output, base64_encoded)
    }

    /// The id as sent (still to be looked up).
    pub(super) fn language_id(&self) -> Result<Option<i64>, String> {
        match sent(&self.language_id) {
            None => Err("can't be blank".to_owned()),
            Some(value) => integer(&value)
                .map(Some)
                .ok_or_else(|| "is not a number".to_owned()),
        }
    }

    pub(super) fn compiler_options(&self) -> Result<Option<Options>, String> {
        options(&self.compiler_options)
    }

    pub(super) fn command_line_arguments(&self) -> Result<Option<Options>, String> {
        options(&self.command_line_arguments)
    }

    pub(super) fn cpu_time_limit(&self, config: &Config) -> Result<f64, String> {
        let max = config.max_cpu_time_limit;
        limit(&self.cpu_time_limit, config.cpu_time_limit, 0.0, max)
    }

    pub(super) fn cpu_extra_time(&self, config: &Config) -> Result<f64, String> {
        let max = config.max_cpu_extra_time;
        limit(&self.cpu_extra_time, config.cpu_extra_time, 0.0, max)
    }

    pub(super) fn wall_time_limit(&self, config: &Config) -> Result<f64, String> {
        let max = config.max_wall_time_limit;
        limit(&self.wall_time_limit, config.wall_time_limit, 1.0, max)
    }

    /// Not under the sandbox's floor: a smaller limit cannot be told from a
    /// broken sandbox.
    pub(super) fn memory_limit(&self, config: &Config) -> Result<f64, String> {
        let floor = config.memory_floor_kb();
        if sent(&self.memory_limit)
            .and_then(|v| float(&v))
            .is_some_and(|kb| kb < floor as f64)
        {
            return Err(format!("must be greater than or equal to {floor} (the sandbox's floor: a smaller limit cannot be told from a broken sandbox)"));
        }
        let (default, max) = (config.memory_limit as f64, config.max_memory_limit as f64);
        limit(&self.memory_limit, default, floor as f64, max)
    }

    pub(super) fn stack_limit(&self, config: &Config) -> Result<f64, String> {
        let (default, max) = (config.stack_limit as f64, config.max_stack_limit as f64);
        limit(&self.stack_limit, default, 0.0, max)
    }

    pub(super) fn max_processes_and_or_threads(&self, config: &Config) -> Result<f64, String> {
        let value = &self.max_processes_and_or_threads;
        if sent(value)
            .and_then(|v| float(&v))
            .is_some_and(|n| n <= 0.0)
        {
            return Err("must be greater than 0".to_owned());
        }
        let default = config.max_processes_and_or_threads as f64;
        limit(
            value,
            default,
            0.0,
            config.max_max_processes_and_or_threads as f64,
        )
    }

    pub(super) fn max_file_size(&self, config: &Config) -> Result<f64, String> {
        let (default, max) = (config.max_file_size as f64, config.max_max_file_size as f64);
        limit(&self.max_file_size, default, 0.0, max)
    }

    pub(super) fn number_of_runs(&self, config: &Config) -> Result<f64, String> {
        if sent(&self.number_of_runs)
            .and_then(|v| float(&v))
            .is_some_and(|n| n < 1.0)
        {
            return Err("must be greater than 0".to_owned());
        }
        let (default, max) = (
            config.number_of_runs as f64,
            config.max_number_of_runs as f64,
        );
        limit(&self.number_of_runs, default, 1.0, max)
    }

    pub(super) fn redirect_stderr_to_stdout(&self) -> Result<bool, String> {
        flag(&self.redirect_stderr_to_stdout)
    }

    /// Runs have no network.
    pub(super) fn enable_network(&self) -> Result<(), String> {
        refused_flag(&self.enable_network, "enabling network is not allowed")
    }

    pub(super) fn enable_per_process_and_thread_time_limit(&self) -> Result<(), String> {
        let value = &self.enable_per_process_and_thread_time_limit;
        refused_flag(value, "this option cannot be enabled")
    }

    pub(super) fn enable_per_process_and_thread_memory_limit(&self) -> Result<(), String> {
        let value = &self.enable_per_process_and_thread_memory_limit;
        refused_flag(value, "this option cannot be enabled")
    }
}

/// `compiler_options` or `command_line_arguments`: as sent, and as words.
pub(super) type Options = (String, Vec<String>);

/// What was sent, as a JSON value (`None`: absent), for Rails' casts.
fn sent<T: Serialize>(value: &Lenient<T>) -> Option<Value> {
    match value {
        Lenient::Absent => None,
        Lenient::Read(t) => serde_json::to_value(t).ok(),
        Lenient::Invalid(value) => Some(value.clone()),
    }
}

/// A text field, base64 when `base64_encoded`.
fn text(value: &Lenient<String>, base64_encoded: bool) -> Result<Option<Vec<u8>>, String> {
    match value {
        Lenient::Absent => Ok(None),
        Lenient::Read(s) if base64_encoded => base64(s)
            .map(Some)
            .map_err(|_| "is not valid base64".to_owned()),
        Lenient::Read(s) => Ok(Some(s.clone().into_bytes())),
        Lenient::Invalid(_) => Err("must be a string".to_owned()),
    }
}

/// A limit within `min..=max`, `default` when absent, in Rails' words.
fn limit<T: Serialize>(
    value: &Lenient<T>,
    default: f64,
    min: f64,
    max: f64,
) -> Result<f64, String> {
    let Some(value) = sent(value) else {
        return Ok(default);
    };
    match float(&value) {
        None => Err("is not a number".to_owned()),
        Some(n) if n < min => Err(format!("must be greater than or equal to {}", show(min))),
        Some(n) if n > max => Err(format!("must be less than or equal to {}", show(max))),
        Some(n) => Ok(n),
    }
}

/// A boolean, or a string of one (Rails casts form values).
fn flag(value: &Lenient<bool>) -> Result<bool, String> {
    match value {
        Lenient::Absent => Ok(false),
        Lenient::Read(b) => Ok(*b),
        Lenient::Invalid(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Lenient::Invalid(_) => Err("must be true or false".to_owned()),
    }
}

/// A switch this server never turns on: `refusal` when it is asked to.
fn refused_flag(value: &Lenient<bool>, refusal: &str) -> Result<(), String> {
    match flag(value)? {
        true => Err(refusal.to_owned()),
        false => Ok(()),
    }
}

/// Options as a shell would split them, at most [`MAX_OPTIONS`] characters.
fn options(value: &Lenient<String>) -> Result<Option<Options>, String> {
    let text = match value {
        Lenient::Absent => return Ok(None),
        Lenient::Read(text) => text,
        Lenient::Invalid(_) => return Err("must be a string".to_owned()),
    };
    if text.chars().count() > MAX_OPTIONS {
        return Err(format!("is too long (maximum is {MAX_OPTIONS} characters)"));
    }
    match shell_words::split(text) {
        Ok(words) if words.iter().any(|w| w.contains('\0')) => {
            Err("must not contain NUL characters".to_owned())
        }
        Ok(words) => Ok(Some((text.clone(), words))),
        Err(_) => Err("has an unmatched quote".to_owned()),
    }
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
