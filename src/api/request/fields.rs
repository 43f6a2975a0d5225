//! Each field of `POST /run`'s body, checked on its own: what it must be,
//! and the limits on it. A field sent as something else than its type
//! arrives as [`Lenient::Invalid`], and is refused here in its own words.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::Value;

use super::values::{LanguageId, RunFile, Seconds, MAX_TIMEOUT_SECS};
use crate::api::error::ApiError;
use crate::api::lenient::Lenient;
use crate::languages::{is_env_name, Language, LanguageMap};

/// Most arguments in `args`, and most bytes in one argument.
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_LEN: usize = 1024;
/// Most variables in `env`, bytes in a name, and bytes in all values together.
pub const MAX_ENV_VARS: usize = 64;
pub const MAX_ENV_NAME: usize = 128;
pub const MAX_ENV_BYTES: usize = 64 * 1024;

pub(super) fn language(
    value: Lenient<LanguageId>,
    languages: &LanguageMap,
) -> Result<Arc<Language>, ApiError> {
    let known = || {
        let ids: Vec<String> = languages.iter().map(|l| l.id.to_string()).collect();
        ids.join(", ")
    };
    let id = match value {
        Lenient::Absent => return Err(ApiError::bad("language_id is required")),
        Lenient::Read(LanguageId(id)) => id,
        Lenient::Invalid(_) => {
            return Err(ApiError::bad(
                "language_id must be an integer or a string of decimal digits",
            ))
        }
    };
    u32::try_from(id)
        .ok()
        .and_then(|id| languages.get(id).cloned())
        .ok_or_else(|| ApiError::bad(format!("language_id {id} is not one of: {}", known())))
}

/// Standard base64 with or without padding; line breaks (as `base64` wraps) ignored.
pub(super) fn code(value: Lenient<String>) -> Result<Vec<u8>, ApiError> {
    let text = match value {
        Lenient::Absent => return Err(ApiError::bad("code is required")),
        Lenient::Read(text) => text,
        Lenient::Invalid(_) => return Err(ApiError::bad("code must be a base64 string")),
    };
    let decoded =
        base64(&text).map_err(|e| ApiError::bad(format!("code is not valid base64: {e}")))?;
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
pub(super) fn files(
    value: Lenient<Vec<Lenient<RunFile>>>,
    entry: &str,
    max: usize,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let list = match value {
        Lenient::Absent => return Ok(Vec::new()),
        Lenient::Read(list) => list,
        Lenient::Invalid(_) => {
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
        let Lenient::Read(file) = file else {
            return Err(ApiError::bad(format!(
                "files[{i}] must be an object with name and content"
            )));
        };
        let Lenient::Read(name) = file.name else {
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
        let content = match file.content {
            Lenient::Absent => Vec::new(),
            Lenient::Read(text) => base64(&text).map_err(|e| {
                ApiError::bad(format!(
                    "files[{i}].content (\"{shown}\") is not valid base64: {e}"
                ))
            })?,
            Lenient::Invalid(_) => {
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
pub(super) fn args(value: Lenient<String>) -> Result<Vec<String>, ApiError> {
    let text = match value {
        Lenient::Absent => return Ok(Vec::new()),
        Lenient::Read(text) => text,
        Lenient::Invalid(_) => {
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
pub(super) fn timeout(value: Lenient<Seconds>, max: Duration) -> Result<Duration, ApiError> {
    named_timeout("timeout", value, max)
}

/// Whole seconds, as an integer or digits; 0 or absent is the server's
/// maximum, more is capped to it.
pub(super) fn named_timeout(
    field: &str,
    value: Lenient<Seconds>,
    max: Duration,
) -> Result<Duration, ApiError> {
    let secs = match value {
        Lenient::Absent => 0,
        Lenient::Read(Seconds(secs)) => secs,
        Lenient::Invalid(sent) => return Err(not_seconds(field, &sent)),
    };
    if secs > MAX_TIMEOUT_SECS {
        return Err(ApiError::bad(format!("{field} is out of range")));
    }
    if secs == 0 {
        return Ok(max);
    }
    Ok(Duration::from_secs(secs).min(max))
}

/// Why `sent` is not a number of seconds.
fn not_seconds(field: &str, sent: &Value) -> ApiError {
    let why = match sent {
        Value::Number(n) if n.as_i64().is_some_and(|v| v < 0) => "must not be negative",
        Value::Number(_) => "must be a whole number of seconds",
        Value::String(s) if s.starts_with('-') => "must not be negative",
        Value::String(s) if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) => {
            "must be a whole number of seconds"
        }
        // Digits, too many for a u64.
        Value::String(_) => "is out of range",
        _ => "must be an integer or a string of digits",
    };
    ApiError::bad(format!("{field} {why}"))
}

/// The string's UTF-8 bytes, exactly.
pub(super) fn stdin(value: Lenient<String>) -> Result<Vec<u8>, ApiError> {
    match value {
        Lenient::Absent => Ok(Vec::new()),
        Lenient::Read(text) => Ok(text.into_bytes()),
        Lenient::Invalid(_) => Err(ApiError::bad("stdin must be a string")),
    }
}

/// The language's environment, then the client's variables (in name order,
/// the first refused one named).
pub(super) fn env(
    value: Lenient<BTreeMap<String, Lenient<String>>>,
    language: &Language,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut merged: Vec<(String, String)> = language
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let map = match value {
        Lenient::Absent => return Ok(merged),
        Lenient::Read(map) => map,
        Lenient::Invalid(_) => return Err(ApiError::bad("env must be an object of string values")),
    };
    if map.len() > MAX_ENV_VARS {
        return Err(ApiError::bad(format!(
            "env has more than {MAX_ENV_VARS} variables"
        )));
    }
    let mut total = 0;
    for (name, value) in map {
        if name.len() > MAX_ENV_NAME || !is_env_name(&name) {
            return Err(ApiError::bad(format!(
                "env name {name:?} must match ^[A-Za-z_][A-Za-z0-9_]*$ (at most {MAX_ENV_NAME} bytes)"
            )));
        }
        if language.is_reserved_env(&name) {
            return Err(ApiError::bad(format!(
                "env {name} is set by the {} environment and cannot be overridden",
                language.name
            )));
        }
        let Lenient::Read(value) = value else {
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
        merged.push((name, value));
    }
    Ok(merged)
}
