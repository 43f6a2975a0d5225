//! `POST /api/v2/execute`'s body (and an interactive `init`'s) as Piston's
//! clients send it: one typed struct that serde reads and the OpenAPI
//! document describes. Every field is [`Lenient`], so a body that is a JSON
//! object always parses and each field is refused in Piston's words, the
//! first problem in Piston's order (see [`super::job`], which turns it into
//! the sandbox's job). Fields Piston does not know are ignored, as Piston
//! ignores them.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::lenient::Lenient;
use crate::api::request::{base64, MAX_ARGS, MAX_ARG_LEN};

/// `POST /api/v2/execute`, as Piston takes it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"language": "python", "version": "*", "files": [{"content": "print(input())"}], "stdin": "hello"}))]
pub struct PistonExecute {
    /// A runtime's language or one of its aliases.
    #[schema(required = true)]
    #[serde(default)]
    pub language: Lenient<String>,
    /// A semver range (`*`, `3.x`) or a version.
    #[schema(required = true)]
    #[serde(default)]
    pub version: Lenient<String>,
    /// The program's files; the first utf8 one is run.
    #[schema(required = true)]
    #[serde(default)]
    pub files: Lenient<Vec<Lenient<PistonFile>>>,
    /// The program's standard input, exactly.
    #[serde(default)]
    pub stdin: Lenient<String>,
    /// The program's arguments.
    #[serde(default)]
    pub args: Lenient<Vec<Lenient<String>>>,
    /// Milliseconds; -1 or 0: the server's.
    #[serde(default)]
    pub compile_timeout: Lenient<f64>,
    /// Milliseconds; -1 or 0: the server's.
    #[serde(default)]
    pub run_timeout: Lenient<f64>,
    /// Milliseconds of CPU time; -1 or 0: the server's.
    #[serde(default)]
    pub compile_cpu_time: Lenient<f64>,
    /// Milliseconds of CPU time; -1 or 0: the server's.
    #[serde(default)]
    pub run_cpu_time: Lenient<f64>,
    /// Bytes; -1 or 0: the server's.
    #[serde(default)]
    pub compile_memory_limit: Lenient<f64>,
    /// Bytes; -1 or 0: the server's.
    #[serde(default)]
    pub run_memory_limit: Lenient<f64>,
}

/// One file of a Piston request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct PistonFile {
    /// Its path in the working directory (unnamed: `file<i>.code`, or the
    /// language's source file for the one run).
    #[serde(default)]
    pub name: Lenient<String>,
    #[schema(required = true)]
    #[serde(default)]
    pub content: Lenient<String>,
    /// How `content` is encoded (default `utf8`).
    #[serde(default)]
    pub encoding: Lenient<Encoding>,
}

/// How a file's `content` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(remote = "Self", rename_all = "lowercase")]
pub enum Encoding {
    Utf8,
    Base64,
    Hex,
}

// Only a JSON object is a file, as Piston reads one: serde's derive alone
// would take a list (`["main.py", "print(1)"]`) field by field.
impl<'de> Deserialize<'de> for PistonFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let object = serde_json::Map::deserialize(d)?;
        PistonFile::deserialize(Value::Object(object)).map_err(D::Error::custom)
    }
}

// Only a string is an encoding: serde's derive alone would take a one-key
// object (`{"utf8": null}`) for one too.
impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let name = String::deserialize(d)?;
        Encoding::deserialize(Value::String(name)).map_err(D::Error::custom)
    }
}

impl PistonExecute {
    /// The body as sent: any JSON object (Piston reads fields from
    /// whatever object it gets).
    pub fn from_json(body: Value) -> Result<Self, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad("the body must be a JSON object"));
        }
        // Cannot fail: every field is lenient.
        serde_json::from_value(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
    }

    /// Piston's "required as a string": present, a string, not empty.
    pub fn language(&self) -> Result<&str, ApiError> {
        required_string(&self.language, "language")
    }

    pub fn version(&self) -> Result<&str, ApiError> {
        required_string(&self.version, "version")
    }

    /// The files, each with a string `content`, or the first one without
    /// (a file that is not an object has none).
    pub fn files(&self) -> Result<Vec<&PistonFile>, ApiError> {
        let Lenient::Read(files) = &self.files else {
            return Err(ApiError::bad("files is required as an array"));
        };
        files
            .iter()
            .enumerate()
            .map(|(i, file)| match file {
                Lenient::Read(file) if file.content.read().is_some() => Ok(file),
                _ => Err(ApiError::bad(format!(
                    "files[{i}].content is required as a string"
                ))),
            })
            .collect()
    }

    /// Piston's `args`: the program's arguments, strings (whipcode's
    /// bounds on their count and size).
    pub fn program_args(&self) -> Result<Vec<String>, ApiError> {
        let not_strings = || ApiError::bad("args must be an array of strings");
        let list = match &self.args {
            Lenient::Absent => return Ok(Vec::new()),
            Lenient::Read(list) => list,
            Lenient::Invalid(_) => return Err(not_strings()),
        };
        if list.len() > MAX_ARGS {
            return Err(ApiError::bad(format!(
                "args has more than {MAX_ARGS} arguments"
            )));
        }
        list.iter()
            .map(|arg| match arg.read() {
                Some(s) if s.contains('\0') => {
                    Err(ApiError::bad("args must not contain NUL characters"))
                }
                Some(s) if s.len() > MAX_ARG_LEN => Err(ApiError::bad(format!(
                    "an argument is {} bytes; the limit is {MAX_ARG_LEN}",
                    s.len()
                ))),
                Some(s) => Ok(s.clone()),
                None => Err(not_strings()),
            })
            .collect()
    }

    /// The string's bytes, exactly (Piston appends a newline; this does not).
    pub fn stdin(&self) -> Result<Vec<u8>, ApiError> {
        match &self.stdin {
            Lenient::Absent => Ok(Vec::new()),
            Lenient::Read(s) => Ok(s.as_bytes().to_vec()),
            Lenient::Invalid(_) => Err(ApiError::bad("stdin must be a string")),
        }
    }

    /// The limits in the order Piston checks them, each with its name:
    /// memory, timeout and CPU time (rows) of compile and run (columns).
    pub fn limits(&self) -> [[(&'static str, &Lenient<f64>); 2]; 3] {
        [
            [
                ("compile_memory_limit", &self.compile_memory_limit),
                ("run_memory_limit", &self.run_memory_limit),
            ],
            [
                ("compile_timeout", &self.compile_timeout),
                ("run_timeout", &self.run_timeout),
            ],
            [
                ("compile_cpu_time", &self.compile_cpu_time),
                ("run_cpu_time", &self.run_cpu_time),
            ],
        ]
    }
}

fn required_string<'a>(field: &'a Lenient<String>, name: &str) -> Result<&'a str, ApiError> {
    match field.read() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::bad(format!("{name} is required as a string"))),
    }
}

/// A limit as asked: the server's, or a value in ms or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Server,
    Value(u64),
}

impl Chosen {
    pub fn value(self) -> Option<u64> {
        match self {
            Chosen::Server => None,
            Chosen::Value(v) => Some(v),
        }
    }

    pub fn or<T>(self, server: T, from: impl Fn(u64) -> T) -> T {
        self.value().map_or(server, from)
    }
}

/// One limit: absent, `null`, `-1` and `0` mean the server's (Piston lets
/// a 0 disable the limit; here it never does); a number above the
/// server's or below -1 is refused in Piston's words.
pub fn limit(name: &str, value: &Lenient<f64>, configured: u64) -> Result<Chosen, ApiError> {
    let number = match value {
        Lenient::Absent => return Ok(Chosen::Server),
        Lenient::Read(n) => *n,
        Lenient::Invalid(_) => {
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

impl PistonFile {
    /// The encoding asked for; `None`: not one of the three.
    pub fn encoding(&self) -> Option<Encoding> {
        match self.encoding {
            Lenient::Absent => Some(Encoding::Utf8),
            Lenient::Read(e) => Some(e),
            Lenient::Invalid(_) => None,
        }
    }

    pub fn is_utf8(&self) -> bool {
        self.encoding() == Some(Encoding::Utf8)
    }

    /// The name as given; `""`: unnamed.
    pub fn name(&self, i: usize) -> Result<&str, ApiError> {
        match &self.name {
            Lenient::Absent => Ok(""),
            Lenient::Read(name) => Ok(name),
            Lenient::Invalid(_) => Err(ApiError::bad(format!("files[{i}].name must be a string"))),
        }
    }

    /// The content, decoded.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, ApiError> {
        let content = self.content.read().map_or("", String::as_str);
        match self.encoding() {
            Some(Encoding::Utf8) => Ok(content.as_bytes().to_vec()),
            Some(Encoding::Base64) => base64(content)
                .map_err(|e| ApiError::bad(format!("files[{i}].content is not valid base64: {e}"))),
            Some(Encoding::Hex) => hex::decode(content.trim())
                .map_err(|e| ApiError::bad(format!("files[{i}].content is not valid hex: {e}"))),
            None => Err(ApiError::bad(format!(
                "files[{i}].encoding must be one of utf8, base64, hex"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn any_object_parses_and_anything_else_is_refused() {
        let body = PistonExecute::from_json(json!({"language": 5, "files": "x", "zzz": 1}));
        let body = body.unwrap();
        assert_eq!(body.language, Lenient::Invalid(json!(5)));
        assert_eq!(message(body.language()), "language is required as a string");
        assert_eq!(message(body.files()), "files is required as an array");
        assert_eq!(
            message(PistonExecute::from_json(json!([1]))),
            "the body must be a JSON object"
        );
    }

    #[test]
    fn a_file_that_is_not_an_object_has_no_content() {
        let body = PistonExecute::from_json(json!({"files": [{"content": ""}, "print(1)"]}));
        assert_eq!(
            message(body.unwrap().files()),
            "files[1].content is required as a string"
        );
        // Not a list read field by field either.
        let body = PistonExecute::from_json(json!({"files": [["main.py", "print(1)"]]}));
        assert_eq!(
            message(body.unwrap().files()),
            "files[0].content is required as a string"
        );
    }

    #[test]
    fn an_encoding_not_known_is_not_utf8_and_refused_when_decoded() {
        let body = PistonExecute::from_json(json!({"files": [
            {"content": "x", "encoding": "UTF8"}, {"content": "x", "encoding": null},
            {"content": "x", "encoding": {"utf8": null}}]}));
        let body = body.unwrap();
        let files = body.files().unwrap();
        assert!(!files[0].is_utf8() && files[1].is_utf8(), "null: utf8");
        assert!(!files[2].is_utf8(), "an object is no encoding");
        assert_eq!(
            message(files[0].bytes(0)),
            "files[0].encoding must be one of utf8, base64, hex"
        );
    }

    #[test]
    fn limits_come_memory_then_timeout_then_cpu_time_compile_before_run() {
        let body = PistonExecute::default();
        let names: Vec<&str> = body.limits().iter().flatten().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "compile_memory_limit",
                "run_memory_limit",
                "compile_timeout",
                "run_timeout",
                "compile_cpu_time",
                "run_cpu_time"
            ]
        );
        let read = |v: Value| serde_json::from_value::<Lenient<f64>>(v).unwrap();
        assert_eq!(limit("t", &read(json!(0)), 10).unwrap(), Chosen::Server);
        assert_eq!(limit("t", &read(json!(-1)), 10).unwrap(), Chosen::Server);
        assert_eq!(limit("t", &read(json!(2.5)), 10).unwrap(), Chosen::Value(3));
        assert_eq!(
            message(limit("t", &read(json!("5")), 10)),
            "If specified, t must be a number"
        );
        assert_eq!(
            message(limit("t", &read(json!(11)), 10)),
            "t cannot exceed the configured limit of 10"
        );
        assert_eq!(
            message(limit("t", &read(json!(-2)), 10)),
            "t must be non-negative"
        );
    }
}
