//! `POST /run` (and whipcode's interactive `init`, the same fields) as
//! clients send it: [`RunBody`], the one struct serde reads and the OpenAPI
//! document describes, and its conversion into a [`RunRequest`] (a
//! `TryFrom`), then into the sandbox's [`Job`]. Validation happens once,
//! here; everything past this border is trusted to be well-formed (but
//! never trusted to be harmless).
//!
//! - [`fields`]: each field's own check, and the limits on it.
//! - [`values`]: the values of its fields that are more than a JSON type:
//!   the whole numbers sent as integers or strings of digits, and a file.

mod fields;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::error::ApiError;
use super::job::{Job, StageLimits};
use super::lenient::Lenient;
use crate::languages::{Language, LanguageMap};
pub(crate) use fields::base64;
use fields::{args, code, env, files, language, named_timeout, stdin, timeout};
pub use fields::{MAX_ARGS, MAX_ARG_LEN, MAX_ENV_BYTES, MAX_ENV_NAME, MAX_ENV_VARS};
pub use values::{LanguageId, RunFile, Seconds};

/// The body as sent: the original whipcode's fields, and `files` and
/// `compile_timeout` added. Absent fields and `null` are the same; unknown
/// fields are ignored, as the original does; a field of another type than
/// its own is refused (400), the first in this order: `language_id`,
/// `code`, `args`, `timeout`, `compile_timeout`, `files`, `stdin`, `env`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"code": "cHJpbnQoaW5wdXQoKSk=", "language_id": 1, "stdin": "hello\n"}))]
pub struct RunBody {
    /// The program, in base64.
    #[schema(required = true)]
    #[serde(default)]
    pub code: Lenient<String>,
    /// A language id of `GET /languages`, as an integer or a string of digits.
    #[schema(required = true)]
    #[serde(default)]
    pub language_id: Lenient<LanguageId>,
    /// Flags for the compiler or interpreter, space-separated.
    #[serde(default)]
    pub args: Lenient<String>,
    /// Seconds the run may take (capped to the server's `timeout`; 0: the
    /// server's), as an integer or a string of digits.
    #[serde(default)]
    pub timeout: Lenient<Seconds>,
    #[serde(default)]
    pub stdin: Lenient<String>,
    /// Environment variables of the program.
    #[serde(default)]
    pub env: Lenient<BTreeMap<String, Lenient<String>>>,
    /// Added: more files beside the entry file `code`.
    #[serde(default)]
    pub files: Lenient<Vec<Lenient<RunFile>>>,
    /// Added: the compile stage's timeout (the run's is `timeout`).
    #[serde(default)]
    pub compile_timeout: Lenient<Seconds>,
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

/// Each field checked, in the order [`RunBody`] states; the first refusal
/// is the answer.
impl TryFrom<(RunBody, &Context<'_>)> for RunRequest {
    type Error = ApiError;

    fn try_from((body, ctx): (RunBody, &Context<'_>)) -> Result<Self, ApiError> {
        let language = language(body.language_id, ctx.languages)?;
        Ok(RunRequest {
            code: code(body.code)?,
            args: args(body.args)?,
            timeout: timeout(body.timeout, ctx.max_timeout)?,
            compile_timeout: named_timeout(
                "compile_timeout",
                body.compile_timeout,
                ctx.max_timeout,
            )?,
            files: files(body.files, &language.source, ctx.max_files)?,
            stdin: stdin(body.stdin)?,
            env: env(body.env, &language)?,
            language,
        })
    }
}

/// The job: `code` is the entry file under the language's source name,
/// `args` are the tool's flags, both stages have a wall-clock limit.
impl From<RunRequest> for Job {
    fn from(request: RunRequest) -> Job {
        let mut files = Vec::with_capacity(request.files.len() + 1);
        files.push((request.language.source.clone(), request.code));
        files.extend(request.files);
        Job {
            files,
            tool_args: request.args,
            program_args: Vec::new(),
            stdin: request.stdin,
            env: request.env,
            compile: StageLimits::timeout(request.compile_timeout),
            run: StageLimits::timeout(request.timeout),
            runs: 1,
            processes: None,
            language: request.language,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
        RunRequest::try_from((body, &ctx(&map))).map_err(|e| e.to_string())
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
