//! `POST /api/v2/execute`'s body as Piston's clients send it, validated into
//! the same [`Job`] as every API: Piston's checks in Piston's order and
//! words, then whipcode's own (file names, encodings, counts, argument
//! sizes). Where Piston is wrong this is not: a limit of 0 does not disable
//! the limit, and a file name that escapes the job's directory is a 400.

use std::time::Duration;

use serde_json::{Map, Value};

use super::runtimes::{find, for_lookup, Installed};
use crate::api::error::ApiError;
use crate::api::job::{Job, StageLimits};
use crate::api::request::{base64, MAX_ARGS, MAX_ARG_LEN};
use crate::api::state::AppState;
use crate::sandbox::{Limits, MEMORY_FLOOR_MB};

/// What validation needs from the server.
pub struct Context<'a> {
    /// The runtimes installed here.
    pub runtimes: &'a [Installed],
    /// The longest compile or run (`--timeout`).
    pub max_timeout: Duration,
    /// The server's limits, before a language's overrides.
    pub limits: Limits,
    /// Most files in a job.
    pub max_files: usize,
}

/// A validated execute request: the job and the runtime it runs on.
#[derive(Debug)]
pub struct Execute {
    pub job: Job,
    pub runtime: Installed,
}

/// The stages and kinds of limit, in the order Piston checks them.
const CONSTRAINTS: [&str; 3] = ["memory_limit", "timeout", "cpu_time"];
const STAGES: [&str; 2] = ["compile", "run"];

/// `body` validated against the runtimes installed here and the server's
/// limits: what `execute` and an interactive `init` both do.
pub async fn prepare(state: &AppState, body: &Value) -> Result<Execute, ApiError> {
    let runtimes = for_lookup(state).await?;
    validate(
        body,
        &Context {
            runtimes: &runtimes,
            max_timeout: state.max_timeout,
            limits: state.limits,
            max_files: state.max_files,
        },
    )
}

pub fn validate(body: &Value, ctx: &Context<'_>) -> Result<Execute, ApiError> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad("the body must be a JSON object"));
    };
    let language = required_string(body, "language")?;
    let version = required_string(body, "version")?;
    let Some(Value::Array(files)) = body.get("files") else {
        return Err(ApiError::bad("files is required as an array"));
    };
    for (i, file) in files.iter().enumerate() {
        if !matches!(file.get("content"), Some(Value::String(_))) {
            return Err(ApiError::bad(format!(
                "files[{i}].content is required as a string"
            )));
        }
    }
    let runtime = find(ctx.runtimes, language, version)
        .ok_or_else(|| ApiError::bad(format!("{language}-{version} runtime is unknown")))?
        .clone();
    if !files.iter().any(is_utf8) {
        return Err(ApiError::bad(
            "files must include at least one utf8 encoded file",
        ));
    }
    let chosen = chosen_limits(body, ctx, &runtime)?;
    // whipcode's checks, past Piston's.
    if files.len() > ctx.max_files {
        return Err(ApiError::bad(format!(
            "files has {} entries; at most {} files are allowed",
            files.len(),
            ctx.max_files
        )));
    }
    let files = job_files(files, &runtime)?;
    memory_above_the_floor(&chosen)?;
    let stage = |s: usize| StageLimits {
        timeout: chosen[1][s].or(ctx.max_timeout, Duration::from_millis),
        cpu_time: chosen[2][s].value().map(Duration::from_millis),
        memory_mb: chosen[0][s].value().map(|bytes| bytes.div_ceil(1 << 20)),
        ..StageLimits::default()
    };
    let job = Job {
        files,
        tool_args: Vec::new(),
        program_args: program_args(body.get("args"))?,
        stdin: stdin(body.get("stdin"))?,
        env: runtime
            .language
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        compile: stage(0),
        run: stage(1),
        runs: 1,
        processes: None,
        language: runtime.language.clone(),
    };
    Ok(Execute { job, runtime })
}

/// Each stage's limits as the body asks for them: memory, timeout and CPU
/// time (rows) of compile and run (columns).
fn chosen_limits(
    body: &Map<String, Value>,
    ctx: &Context<'_>,
    runtime: &Installed,
) -> Result<[[Chosen; 2]; 3], ApiError> {
    let limits = ctx.limits.with_overrides(&runtime.language.limits);
    let mut chosen = [[Chosen::Server; 2]; 3];
    for (c, constraint) in CONSTRAINTS.iter().enumerate() {
        for (s, stage) in STAGES.iter().enumerate() {
            let name = format!("{stage}_{constraint}");
            let configured = match *constraint {
                "memory_limit" => u64::from(limits.memory_mb) << 20,
                "timeout" => millis(ctx.max_timeout),
                _ => u64::from(limits.cpu_seconds) * 1000,
            };
            chosen[c][s] = limit(&name, body.get(&name), configured)?;
        }
    }
    Ok(chosen)
}

/// whipcode's check, past Piston's: no memory limit asked below the
/// sandbox's floor.
fn memory_above_the_floor(chosen: &[[Chosen; 2]; 3]) -> Result<(), ApiError> {
    let floor = MEMORY_FLOOR_MB << 20;
    for (s, stage) in STAGES.iter().enumerate() {
        if let Chosen::Value(bytes) = chosen[0][s] {
            if bytes < floor {
                return Err(ApiError::bad(format!(
                    "{stage}_memory_limit must be at least {floor} (the sandbox's floor)"
                )));
            }
        }
    }
    Ok(())
}

/// Piston's "required as a string": present, a string, not empty.
fn required_string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::bad(format!("{field} is required as a string"))),
    }
}

fn encoding(file: &Value) -> Option<&str> {
    match file.get("encoding") {
        None | Some(Value::Null) => Some("utf8"),
        Some(Value::String(e)) => Some(e),
        Some(_) => None,
    }
}

fn is_utf8(file: &Value) -> bool {
    encoding(file) == Some("utf8")
}

/// A limit as asked: the server's, or a value in ms or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chosen {
    Server,
    Value(u64),
}

impl Chosen {
    fn value(self) -> Option<u64> {
        match self {
            Chosen::Server => None,
            Chosen::Value(v) => Some(v),
        }
    }

    fn or<T>(self, server: T, from: impl Fn(u64) -> T) -> T {
        self.value().map_or(server, from)
    }
}

/// One limit: absent, `null`, `-1` and `0` mean the server's (Piston lets
/// a 0 disable the limit; here it never does); a number above the
/// server's or below -1 is refused in Piston's words.
fn limit(name: &str, value: Option<&Value>, configured: u64) -> Result<Chosen, ApiError> {
    let number = match value {
        None | Some(Value::Null) => return Ok(Chosen::Server),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::MAX),
        Some(_) => {
            return Err(ApiError::bad(format!(
                "If specified, {name} must be a number"
            )))
        }
    };
    if number == 0.0 || number == -1.0 {
        return Ok(Chosen::Server);
    }
    if number > configured as f64 {
        return Err(ApiError::bad(format!(
            "{name} cannot exceed the configured limit of {configured}"
        )));
    }
    if number < 0.0 {
        return Err(ApiError::bad(format!("{name} must be non-negative")));
    }
    Ok(Chosen::Value(number.ceil() as u64))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The job's files, the first utf8 file (the one run) first. An unnamed
/// file (no `name`, or an empty one) is the language's source file if it
/// is the one run, else `file<i>.code` as in Piston; the one run gets the
/// language's extension when its name lacks it (so `main` is compiled as C).
fn job_files(files: &[Value], runtime: &Installed) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let language = &runtime.language;
    let entry_at = files.iter().position(is_utf8).unwrap_or(0);
    let mut tree = whipcode_runner::FileTree::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let given = match file.get("name") {
            None | Some(Value::Null) => "",
            Some(Value::String(name)) => name.as_str(),
            Some(_) => return Err(ApiError::bad(format!("files[{i}].name must be a string"))),
        };
        let shown: String = given
            .chars()
            .flat_map(char::escape_debug)
            .take(200)
            .collect();
        let mut name = match (given.is_empty(), i == entry_at) {
            (true, true) => language.source.clone(),
            (true, false) => format!("file{i}.code"),
            (false, _) => whipcode_runner::normalize_path(given)
                .map_err(|why| ApiError::bad(format!("files[{i}].name \"{shown}\" {why}")))?,
        };
        let extension = language.extension();
        if i == entry_at
            && !name
                .to_ascii_lowercase()
                .ends_with(&extension.to_ascii_lowercase())
        {
            name.push_str(extension);
            // The extension can make the last component too long.
            name = whipcode_runner::normalize_path(&name)
                .map_err(|why| ApiError::bad(format!("files[{i}].name \"{shown}\" {why}")))?;
        }
        if let Err(why) = tree.insert(&name) {
            return Err(ApiError::bad(format!("files[{i}].name \"{shown}\" {why}")));
        }
        let Some(Value::String(content)) = file.get("content") else {
            unreachable!("checked above: every file has a string content");
        };
        let bytes = match encoding(file) {
            Some("utf8") => content.as_bytes().to_vec(),
            Some("base64") => base64(content).map_err(|e| {
                ApiError::bad(format!("files[{i}].content is not valid base64: {e}"))
            })?,
            Some("hex") => hex::decode(content.trim())
                .map_err(|e| ApiError::bad(format!("files[{i}].content is not valid hex: {e}")))?,
            _ => {
                return Err(ApiError::bad(format!(
                    "files[{i}].encoding must be one of utf8, base64, hex"
                )))
            }
        };
        out.push((name, bytes));
    }
    let entry = out.remove(entry_at);
    out.insert(0, entry);
    Ok(out)
}

/// Piston's `args`: the program's arguments, strings.
fn program_args(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::bad("args must be an array of strings")),
    };
    if list.len() > MAX_ARGS {
        return Err(ApiError::bad(format!(
            "args has more than {MAX_ARGS} arguments"
        )));
    }
    list.iter()
        .map(|arg| match arg {
            Value::String(s) if s.contains('\0') => {
                Err(ApiError::bad("args must not contain NUL characters"))
            }
            Value::String(s) if s.len() > MAX_ARG_LEN => Err(ApiError::bad(format!(
                "an argument is {} bytes; the limit is {MAX_ARG_LEN}",
                s.len()
            ))),
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::bad("args must be an array of strings")),
        })
        .collect()
}

/// The string's bytes, exactly (Piston appends a newline; this does not).
fn stdin(value: Option<&Value>) -> Result<Vec<u8>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(_) => Err(ApiError::bad("stdin must be a string")),
    }
}
