//! `POST /run` as clients send it, and its validation into a [`RunRequest`].
//! Validation happens once, here; everything past this border is trusted to
//! be well-formed (but never trusted to be harmless).

use std::sync::Arc;
use std::time::Duration;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::job::{Job, StageLimits};
use crate::languages::{is_env_name, Language, LanguageMap};

/// Most arguments in `args`, and most bytes in one argument.
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_LEN: usize = 1024;
/// Most variables in `env`, bytes in a name, and bytes in all values together.
pub const MAX_ENV_VARS: usize = 64;
pub const MAX_ENV_NAME: usize = 128;
pub const MAX_ENV_BYTES: usize = 64 * 1024;
/// Largest `timeout` accepted (then capped to the server's).
const MAX_TIMEOUT_SECS: u64 = 1 << 31;

/// The body as sent. Absent fields and `null` are the same; unknown fields
/// are ignored, as the original does. Each field is read leniently by its
/// own check below; the schema says what a client should send.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"code": "cHJpbnQoaW5wdXQoKSk=", "language_id": 1, "stdin": "hello\n"}))]
pub struct RunBody {
    /// The program, in base64.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub code: Value,
    /// A language id of `GET /languages` (a string of digits is taken too).
    #[serde(default)]
    #[schema(value_type = u32, required = true)]
    pub language_id: Value,
    /// Flags for the compiler or interpreter, space-separated.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub args: Value,
    /// Seconds the run may take (capped to the server's `timeout`).
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub timeout: Value,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub stdin: Value,
    /// Environment variables of the program.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub env: Value,
    /// Added: more files beside the entry file `code`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<RunFile>>)]
    pub files: Value,
    /// Added: the compile stage's timeout (the run's is `timeout`).
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub compile_timeout: Value,
}

/// One more file of a run (the schema of `files`' items).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Described only: `files` is read from its JSON value.
pub struct RunFile {
    /// A relative path in the working directory.
    pub name: String,
    /// Its bytes, in base64.
    pub content: String,
}

/// A validated run request.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub language: Arc<Language>,
    pub code: Vec<u8>,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub stdin: Vec<u8>,
    pub env: Vec<(String, String)>,
    /// Files beside the entry file: (normalised relative path, content).
    pub files: Vec<(String, Vec<u8>)>,
    pub compile_timeout: Duration,
}

/// What validation needs from the server.
pub struct Context<'a> {
    pub languages: &'a LanguageMap,
    pub max_timeout: Duration,
    /// Most files in a job, the entry file included.
    pub max_files: usize,
}

impl RunRequest {
    /// The job: `code` is the entry file under the language's source name,
    /// `args` are the tool's flags, both stages have a wall-clock limit.
    pub fn into_job(self) -> Job {
        let mut files = Vec::with_capacity(self.files.len() + 1);
        files.push((self.language.source.clone(), self.code));
        files.extend(self.files);
        Job {
            files,
            tool_args: self.args,
            program_args: Vec::new(),
            stdin: self.stdin,
            env: self.env,
            compile: StageLimits::timeout(self.compile_timeout),
            run: StageLimits::timeout(self.timeout),
            runs: 1,
            processes: None,
            language: self.language,
        }
    }
}

impl RunBody {
    pub fn validate(self, ctx: &Context<'_>) -> Result<RunRequest, ApiError> {
        let language = language(&self.language_id, ctx.languages)?;
        Ok(RunRequest {
            code: code(&self.code)?,
            args: args(&self.args)?,
            timeout: timeout(&self.timeout, ctx.max_timeout)?,
            compile_timeout: named_timeout(
                "compile_timeout",
                &self.compile_timeout,
                ctx.max_timeout,
            )?,
            files: files(self.files, &language.source, ctx.max_files)?,
            stdin: stdin(self.stdin)?,
            env: env(&self.env, &language)?,
            language,
        })
    }
}

fn language(value: &Value, languages: &LanguageMap) -> Result<Arc<Language>, ApiError> {
    let known = || {
        let ids: Vec<String> = languages.iter().map(|l| l.id.to_string()).collect();
        ids.join(", ")
    };
    let id = match value {
        Value::Null => return Err(ApiError::bad("language_id is required")),
        Value::Number(n) => n.as_u64(),
        Value::String(s)
            if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<u64>().ok()
        }
        _ => None,
    }
    .ok_or_else(|| ApiError::bad("language_id must be an integer or a string of decimal digits"))?;
    u32::try_from(id)
        .ok()
        .and_then(|id| languages.get(id).cloned())
        .ok_or_else(|| ApiError::bad(format!("language_id {id} is not one of: {}", known())))
}

/// Standard base64 with or without padding; line breaks (as `base64` wraps) ignored.
fn code(value: &Value) -> Result<Vec<u8>, ApiError> {
    let text = match value {
        Value::Null => return Err(ApiError::bad("code is required")),
        Value::String(s) => s,
        _ => return Err(ApiError::bad("code must be a base64 string")),
    };
    let decoded =
        base64(text).map_err(|e| ApiError::bad(format!("code is not valid base64: {e}")))?;
    if decoded.is_empty() {
        return Err(ApiError::bad("code must not be empty"));
    }
    Ok(decoded)
}

pub(crate) fn base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .collect();
    LENIENT.decode(&compact)
}

/// `files`: a list of `{"name": <relative path>, "content": <base64>}`
/// written beside the entry file `entry`. Each name is normalised (`./a//b`
/// is `a/b`); one that is absolute, has a `..`, is empty, or cannot be written
/// beside the others (the entry's own name, a name under a file, a directory
/// of another file) is refused, naming the file. With the entry, at most
/// `max` files.
fn files(value: Value, entry: &str, max: usize) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => {
            return Err(ApiError::bad(
                "files must be a list of {\"name\", \"content\"} objects",
            ))
        }
    };
    if list.len() + 1 > max {
        return Err(ApiError::bad(format!(
            "files has {} entries; with the entry file at most {max} files are allowed",
            list.len()
        )));
    }
    let mut tree = whipcode_runner::FileTree::new();
    tree.insert(entry)
        .map_err(|why| ApiError::bad(format!("the entry file {entry} {why}")))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, file) in list.into_iter().enumerate() {
        let Value::Object(mut file) = file else {
            return Err(ApiError::bad(format!(
                "files[{i}] must be an object with name and content"
            )));
        };
        let Some(Value::String(name)) = file.remove("name") else {
            return Err(ApiError::bad(format!("files[{i}].name must be a string")));
        };
        let shown: String = name
            .chars()
            .flat_map(char::escape_debug)
            .take(200)
            .collect();
        let path = whipcode_runner::normalize_path(&name)
            .map_err(|why| ApiError::bad(format!("files[{i}].name \"{shown}\" {why}")))?;
        if let Err(why) = tree.insert(&path) {
            return Err(ApiError::bad(format!(
                "files[{i}].name \"{shown}\" {why} (the entry file is {entry})"
            )));
        }
        let content = match file.remove("content") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) => base64(&text).map_err(|e| {
                ApiError::bad(format!(
                    "files[{i}].content (\"{shown}\") is not valid base64: {e}"
                ))
            })?,
            Some(_) => {
                return Err(ApiError::bad(format!(
                    "files[{i}].content must be a base64 string"
                )))
            }
        };
        out.push((path, content));
    }
    Ok(out)
}

/// Whitespace-separated flags for the compiler or interpreter; never a shell.
fn args(value: &Value) -> Result<Vec<String>, ApiError> {
    let text = match value {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) => s,
        _ => {
            return Err(ApiError::bad(
                "args must be a string of space-separated arguments",
            ))
        }
    };
    if text.contains('\0') {
        return Err(ApiError::bad("args must not contain NUL characters"));
    }
    let args: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if args.len() > MAX_ARGS {
        return Err(ApiError::bad(format!(
            "args has more than {MAX_ARGS} arguments"
        )));
    }
    if let Some(long) = args.iter().find(|a| a.len() > MAX_ARG_LEN) {
        return Err(ApiError::bad(format!(
            "an argument is {} bytes; the limit is {MAX_ARG_LEN}",
            long.len()
        )));
    }
    Ok(args)
}

/// Seconds as an integer or a string of digits; 0 or absent means the
/// server's timeout, larger values are capped to it.
fn timeout(value: &Value, max: Duration) -> Result<Duration, ApiError> {
    named_timeout("timeout", value, max)
}

/// Whole seconds, as an integer or digits; 0 or absent is the server's
/// maximum, more is capped to it.
fn named_timeout(field: &str, value: &Value, max: Duration) -> Result<Duration, ApiError> {
    let secs = match value {
        Value::Null => 0,
        Value::Number(n) => {
            if n.as_i64().is_some_and(|v| v < 0) {
                return Err(ApiError::bad(format!("{field} must not be negative")));
            }
            n.as_u64().ok_or_else(|| {
                ApiError::bad(format!("{field} must be a whole number of seconds"))
            })?
        }
        Value::String(s) => {
            if s.starts_with('-') {
                return Err(ApiError::bad(format!("{field} must not be negative")));
            }
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::bad(format!(
                    "{field} must be a whole number of seconds"
                )));
            }
            s.parse::<u64>()
                .map_err(|_| ApiError::bad(format!("{field} is out of range")))?
        }
        _ => {
            return Err(ApiError::bad(format!(
                "{field} must be an integer or a string of digits"
            )))
        }
    };
    if secs > MAX_TIMEOUT_SECS {
        return Err(ApiError::bad(format!("{field} is out of range")));
    }
    if secs == 0 {
        return Ok(max);
    }
    Ok(Duration::from_secs(secs).min(max))
}

/// The string's UTF-8 bytes, exactly.
fn stdin(value: Value) -> Result<Vec<u8>, ApiError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s.into_bytes()),
        _ => Err(ApiError::bad("stdin must be a string")),
    }
}

fn env(value: &Value, language: &Language) -> Result<Vec<(String, String)>, ApiError> {
    let mut merged: Vec<(String, String)> = language
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let map = match value {
        Value::Null => return Ok(merged),
        Value::Object(map) => map,
        _ => return Err(ApiError::bad("env must be an object of string values")),
    };
    if map.len() > MAX_ENV_VARS {
        return Err(ApiError::bad(format!(
            "env has more than {MAX_ENV_VARS} variables"
        )));
    }
    let mut total = 0;
    for (name, value) in map {
        if name.len() > MAX_ENV_NAME || !is_env_name(name) {
            return Err(ApiError::bad(format!(
                "env name {name:?} must match ^[A-Za-z_][A-Za-z0-9_]*$ (at most {MAX_ENV_NAME} bytes)"
            )));
        }
        if language.is_reserved_env(name) {
            return Err(ApiError::bad(format!(
                "env {name} is set by the {} environment and cannot be overridden",
                language.name
            )));
        }
        let Value::String(value) = value else {
            return Err(ApiError::bad(format!("env {name} must be a string")));
        };
        if value.contains('\0') {
            return Err(ApiError::bad(format!(
                "env {name} must not contain NUL characters"
            )));
        }
        total += name.len() + value.len();
        if total > MAX_ENV_BYTES {
            return Err(ApiError::bad(format!(
                "env is larger than {MAX_ENV_BYTES} bytes"
            )));
        }
        merged.push((name.clone(), value.clone()));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(map: &LanguageMap) -> Context<'_> {
        Context {
            languages: map,
            max_timeout: Duration::from_secs(10),
            max_files: 256,
        }
    }

    fn check(body: Value) -> Result<RunRequest, String> {
        let map = LanguageMap::load(None).unwrap();
        let body: RunBody = serde_json::from_value(body).map_err(|e| e.to_string())?;
        body.validate(&ctx(&map)).map_err(|e| e.to_string())
    }

    fn ok(extra: Value) -> RunRequest {
        let mut body = json!({"language_id": 1, "code": "cHJpbnQoMSk="});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        check(body).unwrap()
    }

    fn err(body: Value) -> String {
        check(body).unwrap_err()
    }

    #[test]
    fn language_id_is_an_integer_or_a_digit_string() {
        assert_eq!(ok(json!({"language_id": 7})).language.id, 7);
        assert_eq!(ok(json!({"language_id": "2"})).language.id, 2);
        for bad in [
            json!("1.0"),
            json!(1.5),
            json!(-1),
            json!("py"),
            json!(true),
            json!(" 1"),
        ] {
            assert!(err(json!({"language_id": bad, "code": "eA=="})).contains("language_id"));
        }
        assert!(err(json!({"language_id": 999, "code": "eA=="})).contains("not one of"));
        assert!(err(json!({"code": "eA=="})).contains("required"));
    }

    #[test]
    fn code_tolerates_line_breaks_and_missing_padding() {
        let wrapped = "cHJp\nbnQo\r\nMSk=";
        assert_eq!(ok(json!({"code": wrapped})).code, b"print(1)");
        assert_eq!(ok(json!({"code": "cHJpbnQoMSk"})).code, b"print(1)");
        assert_eq!(ok(json!({"code": "/w=="})).code, vec![0xff], "any bytes");
    }

    #[test]
    fn code_must_be_present_nonempty_base64() {
        for bad in [json!(""), json!("!!!"), json!(5), json!("\n")] {
            let e = err(json!({"language_id": 1, "code": bad}));
            assert!(e.contains("code"), "{e}");
        }
        assert!(err(json!({"language_id": 1})).contains("code is required"));
    }

    #[test]
    fn args_split_on_whitespace_and_stay_literal() {
        let r = ok(json!({"args": "  -O2\t-DX='a b'  ;rm -rf / $(id) "}));
        assert_eq!(
            r.args,
            vec!["-O2", "-DX='a", "b'", ";rm", "-rf", "/", "$(id)"]
        );
    }

    #[test]
    fn args_are_capped_in_count_and_length() {
        let many = vec!["-x"; MAX_ARGS + 1].join(" ");
        assert!(err(json!({"language_id": 1, "code": "eA==", "args": many})).contains("more than"));
        let long = "x".repeat(MAX_ARG_LEN + 1);
        assert!(err(json!({"language_id": 1, "code": "eA==", "args": long})).contains("limit"));
        assert!(err(json!({"language_id": 1, "code": "eA==", "args": "a\u{0}b"})).contains("NUL"));
    }

    #[test]
    fn timeout_defaults_caps_and_refuses_nonsense() {
        let max = Duration::from_secs(10);
        assert_eq!(ok(json!({})).timeout, max);
        assert_eq!(ok(json!({"timeout": 0})).timeout, max);
        assert_eq!(ok(json!({"timeout": "3"})).timeout, Duration::from_secs(3));
        assert_eq!(ok(json!({"timeout": 99})).timeout, max, "capped");
        for bad in [
            json!(-1),
            json!("-1"),
            json!(1.5),
            json!("1.5"),
            json!("x"),
            json!([1]),
            json!(1e300),
            json!("99999999999999999999999"),
        ] {
            let e = err(json!({"language_id": 1, "code": "eA==", "timeout": bad}));
            assert!(e.contains("timeout"), "{bad}: {e}");
        }
    }

    #[test]
    fn stdin_is_kept_byte_for_byte() {
        let text = "line\n\n-n \\t \"q\" 'q'\r\n\u{e9}\0end";
        assert_eq!(ok(json!({"stdin": text})).stdin, text.as_bytes());
        assert!(err(json!({"language_id": 1, "code": "eA==", "stdin": 5})).contains("stdin"));
    }

    #[test]
    fn env_names_values_and_reserved_names_are_checked() {
        let r = ok(json!({"env": {"MY_VAR": "a b", "_x1": ""}}));
        assert!(r.env.contains(&("MY_VAR".into(), "a b".into())));
        assert!(r.env.iter().any(|(k, _)| k == "PATH"), "language env kept");
        for (body, want) in [
            (json!({"1BAD": "x"}), "must match"),
            (json!({"A-B": "x"}), "must match"),
            (json!({"": "x"}), "must match"),
            (json!({"PATH": "/evil"}), "cannot be overridden"),
            (json!({"HOME": "/"}), "cannot be overridden"),
            (json!({"A": 1}), "must be a string"),
            (json!({"A": "x\u{0}y"}), "NUL"),
        ] {
            let e = err(json!({"language_id": 1, "code": "eA==", "env": body}));
            assert!(e.contains(want), "{e}");
        }
        assert!(err(json!({"language_id": 1, "code": "eA==", "env": "A=1"})).contains("object"));
    }

    #[test]
    fn env_is_capped_in_count_and_size() {
        let many: serde_json::Map<String, Value> = (0..=MAX_ENV_VARS)
            .map(|i| (format!("V{i}"), json!("x")))
            .collect();
        assert!(err(json!({"language_id": 1, "code": "eA==", "env": many})).contains("more than"));
        let big = json!({"A": "x".repeat(MAX_ENV_BYTES)});
        assert!(err(json!({"language_id": 1, "code": "eA==", "env": big})).contains("larger"));
    }
}
