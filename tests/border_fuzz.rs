//! The property test of every API's border: generated file names, zip
//! entries, arguments and environments, sent through whipcode's `/run`,
//! Piston's `execute` and Judge0's `submissions`, in process, to a sandbox
//! that takes each job as the runner would (its frames decoded, its files
//! written into a fresh directory by the runner's rules). A request is either
//! refused at the border with a 4xx in its API's shape, or its job is one the
//! runner can write: a job it could not is this sandbox's error, which the
//! service answers 500, and the property fails.
//!
//! Longer runs: `PROPTEST_CASES=5000 cargo test --release --test border_fuzz`.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use common::inprocess::{default_state, fresh_key, languages, Fake};
use common::{b64, KEY};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use whipcode::api::router;
use whipcode::sandbox::{
    BoxFuture, Captured, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError, StageOutcome,
};
use whipcode_runner::{Job, JobFile, Stage};

/// Python and C installed; each job checked as the runner would take it.
struct RunnerRules;

impl Sandbox for RunnerRules {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async move {
            the_runner_takes(&spec).map_err(SandboxError::Runner)?;
            Ok(RunOutcome {
                stages: spec
                    .stages
                    .iter()
                    .map(|stage| StageOutcome {
                        name: stage.name.clone(),
                        stdout: Captured::from(&b"ok"[..]),
                        exit_code: Some(0),
                        ..StageOutcome::default()
                    })
                    .collect(),
                stdout: Captured::from(&b"ok"[..]),
                exit_code: Some(0),
                container: "checked".into(),
                ..RunOutcome::default()
            })
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async {
            Ok(["python", "c"]
                .iter()
                .map(|name| InstalledImage {
                    reference: format!("localhost/whipcode-{name}:latest"),
                    version: Some("1.0".into()),
                })
                .collect())
        })
    }
}

/// Why the runner could not take `spec`, if it could not: its frames must
/// decode to the same job, and its files must write into an empty directory
/// one by one, each new, its directories made on the way (the runner's
/// `write_new_file`).
fn the_runner_takes(spec: &RunSpec) -> Result<(), String> {
    let files: Vec<(String, Vec<u8>)> = spec
        .files
        .iter()
        .map(|(name, content)| (name.clone(), content.to_vec()))
        .collect();
    runner_would_take(&files, &spec.env, &spec.stages)
}

fn runner_would_take(
    files: &[(String, Vec<u8>)],
    env: &[(String, String)],
    stages: &[whipcode::sandbox::StageSpec],
) -> Result<(), String> {
    let job = Job {
        workdir: "/tmp".into(),
        files: files
            .iter()
            .map(|(name, content)| JobFile {
                name: name.clone(),
                content: content.clone(),
            })
            .collect(),
        env: env.to_vec(),
        stages: stages
            .iter()
            .map(|stage| Stage {
                name: stage.name.clone(),
                steps: stage.steps.clone(),
                ..Stage::default()
            })
            .collect(),
        ..Job::default()
    };
    let decoded = Job::read_from(&mut job.encode().as_slice()).map_err(|e| e.to_string())?;
    if decoded.env != job.env
        || decoded
            .stages
            .iter()
            .map(|s| &s.steps)
            .ne(job.stages.iter().map(|s| &s.steps))
    {
        return Err("the job's frames do not decode to the job".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (name, content) in files {
        write_new(dir.path(), name, content).map_err(|e| format!("{name:?}: {e}"))?;
    }
    Ok(())
}

fn write_new(root: &Path, name: &str, content: &[u8]) -> std::io::Result<()> {
    if whipcode_runner::normalize_path(name).as_deref() != Ok(name) {
        return Err(std::io::Error::other("not in normal form"));
    }
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?
        .write_all(content)
}

/// File names made of parts that collide: the entry's names, a directory and
/// a file of the same name, `.`, `..`, empty and over-long components.
fn any_name() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just(String::new()),
        Just("source.py".to_owned()),
        Just("source.c".to_owned()),
        Just("main.c".to_owned()),
        Just("x".repeat(255)),
        Just("x".repeat(256)),
        Just("-c".to_owned()),
        "\\PC{0,6}",
    ];
    (any::<bool>(), prop::collection::vec(part, 1..4)).prop_map(|(absolute, parts)| {
        format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
    })
}

fn any_args() -> impl Strategy<Value = Vec<String>> {
    let arg = prop_oneof![
        Just("-c".to_owned()),
        Just("-E".to_owned()),
        Just("-S".to_owned()),
        Just("-fsyntax-only".to_owned()),
        Just("-o".to_owned()),
        Just(String::new()),
        Just("a\0b".to_owned()),
        "\\PC{0,8}",
    ];
    prop::collection::vec(arg, 0..4)
}

fn any_env() -> impl Strategy<Value = Map<String, Value>> {
    let name = prop_oneof![
        Just("A".to_owned()),
        Just("PATH".to_owned()),
        Just("LD_PRELOAD".to_owned()),
        Just("A=B".to_owned()),
        Just(String::new()),
        Just("A\0".to_owned()),
        "[A-Za-z_]{1,6}",
    ];
    let value = prop_oneof![Just("v".to_owned()), Just("a\0b".to_owned()), "\\PC{0,8}"];
    prop::collection::btree_map(name, value, 0..3)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// One request of one API with these generated parts.
#[derive(Debug, Clone)]
struct Generated {
    c: bool,
    names: Vec<String>,
    args: Vec<String>,
    env: Map<String, Value>,
}

fn any_request() -> impl Strategy<Value = Generated> {
    (
        any::<bool>(),
        prop::collection::vec(any_name(), 0..4),
        any_args(),
        any_env(),
    )
        .prop_map(|(c, names, args, env)| Generated {
            c,
            names,
            args,
            env,
        })
}

impl Generated {
    fn code(&self) -> &'static str {
        if self.c {
            "int main(void) { return 0; }"
        } else {
            "print(1)"
        }
    }

    fn whipcode(&self) -> (String, Value) {
        let files: Vec<Value> = self
            .names
            .iter()
            .map(|name| json!({"name": name, "content": b64("x")}))
            .collect();
        let body = json!({
            "language_id": if self.c { 7 } else { 1 },
            "code": b64(self.code()),
            "files": files,
            "args": self.args.join(" "),
            "env": self.env,
        });
        ("/run".into(), body)
    }

    fn piston(&self) -> (String, Value) {
        let mut files = vec![json!({"content": self.code()})];
        files.extend(
            self.names
                .iter()
                .map(|name| json!({"name": name, "content": "x"})),
        );
        if let Some(first) = self.names.first() {
            // Sometimes the entry is named too.
            files[0]["name"] = json!(first);
        }
        let body = json!({
            "language": if self.c { "c" } else { "python" },
            "version": "*",
            "files": files,
            "args": self.args,
        });
        ("/api/v2/execute".into(), body)
    }

    fn judge0(&self) -> (String, Value) {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let mut seen = std::collections::HashSet::new();
        // The zip writer itself refuses a name written twice; `./x` and
        // `x` it takes.
        for name in self.names.iter().filter(|name| seen.insert(*name)) {
            zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(b"x").unwrap();
        }
        let archive = zip.finish().unwrap().into_inner();
        let mut body = json!({
            "language_id": if self.c { 50 } else { 71 },
            "source_code": self.code(),
            "compiler_options": self.args.join(" "),
            "command_line_arguments": self.args.join(" "),
        });
        if !self.names.is_empty() {
            body["additional_files"] = json!(b64(&archive));
        }
        ("/judge0/submissions?wait=true".into(), body)
    }
}

/// The key, checked with argon2 once for the whole binary.
fn key() -> Arc<whipcode::auth::MasterKey> {
    static KEY_ONCE: std::sync::OnceLock<Arc<whipcode::auth::MasterKey>> =
        std::sync::OnceLock::new();
    Arc::clone(KEY_ONCE.get_or_init(fresh_key))
}

/// POSTs `body` to `path` of a fresh router over [`RunnerRules`].
async fn post(path: &str, body: &Value) -> (u16, Value) {
    let state = default_state(key(), languages(), Arc::new(RunnerRules));
    let request = Request::post(path)
        .header("content-type", "application/json")
        .header("x-master-key", KEY)
        .header("x-auth-token", KEY)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(state, false).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Whether `answer` is a refusal in the shape of the API at `path`.
fn refusal_in_shape(path: &str, status: u16, answer: &Value) -> bool {
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    match path {
        "/run" => status == 400 && text(&answer["detail"]),
        "/api/v2/execute" => status == 400 && text(&answer["message"]),
        _ => {
            (status == 422
                && answer.as_object().is_some_and(|o| {
                    !o.is_empty()
                        && o.values()
                            .all(|v| v.as_array().is_some_and(|a| a.iter().all(text)))
                }))
                || (status == 400 && text(&answer["error"]))
        }
    }
}

proptest! {
    #[test]
    fn no_generated_request_maps_to_500(generated in any_request()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (path, body) in [generated.whipcode(), generated.piston(), generated.judge0()] {
            let (status, answer) = runtime.block_on(post(&path, &body));
            prop_assert!(status != 500, "{path} {body} → {status} {answer}");
            if status != 200 && status != 201 {
                prop_assert!(
                    refusal_in_shape(&path, status, &answer),
                    "{path} {body} → {status} {answer}"
                );
            }
        }
    }
}

/// The property can fail: a job the runner cannot write is this sandbox's
/// error, and the service answers it 500.
#[tokio::test]
async fn a_job_the_runner_cannot_write_is_what_the_property_catches() {
    let a_and_a_b = [("a".into(), b"x".to_vec()), ("a/b".into(), b"y".to_vec())];
    let why = runner_would_take(&a_and_a_b, &[], &[]).unwrap_err();
    assert!(why.contains("\"a/b\""), "{why}");
    let nul_in_env = [("A\0B".to_owned(), "v".to_owned())];
    assert!(runner_would_take(&[], &nul_in_env, &[]).is_err());
    assert_eq!(runner_would_take(&a_and_a_b[..1], &[], &[]), Ok(()));
    let refused = || SandboxError::Runner("cannot write a file".into());
    let state = default_state(key(), languages(), Arc::new(Fake::Failing(refused)));
    let request = Request::post("/run")
        .header("content-type", "application/json")
        .header("x-master-key", KEY)
        .body(Body::from(
            json!({"language_id": 1, "code": b64("print(1)")}).to_string(),
        ))
        .unwrap();
    let response = router(state, false).oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
}
