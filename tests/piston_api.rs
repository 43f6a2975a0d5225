//! Piston's wire format (in process, with a sandbox that records the jobs
//! it is given and answers from them; the real sandbox is in
//! `piston_gateway.rs`): the runtimes list, `execute`'s fields and units,
//! its validation messages in Piston's order, aliases and semver ranges,
//! `-1` and `0` as the server's limits, a failed compile copied into `run`,
//! files (unnamed, encoded, escaping), the program's arguments and stdin,
//! trailing slashes, the error shapes under `/api/v2` and elsewhere, and
//! the document's request schema against the parser (Piston's field names
//! exactly; a body made from the schema read whole, run, and opening an
//! interactive session; fields Piston does not know ignored).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::inprocess::{default_state, fresh_key, languages, App};
use common::schema::resolved;
use common::KEY;
use serde_json::{json, Value};
use whipcode::sandbox::{
    BoxFuture, Captured, InstalledImage, RunOutcome, RunSpec, Sandbox, SandboxError, StageOutcome,
};

/// Python and C installed, with the labels their images really carry. A
/// run is recorded; each stage answers with the job's stdin on stdout,
/// except a compile stage of a program containing `COMPILE_ERROR`, which
/// fails and ends the job.
#[derive(Default)]
struct Recording {
    jobs: Mutex<Vec<RunSpec>>,
}

impl Recording {
    fn last(&self) -> RunSpec {
        self.jobs
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a job ran")
    }
}

impl Sandbox for Recording {
    fn run(&self, spec: RunSpec) -> BoxFuture<'_, Result<RunOutcome, SandboxError>> {
        Box::pin(async move {
            let mut outcome = RunOutcome {
                container: "recorded".into(),
                ..RunOutcome::default()
            };
            for stage in &spec.stages {
                let failing = stage.name == "compile"
                    && String::from_utf8_lossy(&spec.files[0].1).contains("COMPILE_ERROR");
                let out = if failing { &b""[..] } else { &spec.stdin[..] };
                let err = if failing {
                    &b"error: nope"[..]
                } else {
                    &b""[..]
                };
                outcome.stages.push(StageOutcome {
                    name: stage.name.clone(),
                    stdout: Captured::from(out),
                    stderr: Captured::from(err),
                    output: Captured::from([out, err].concat().as_slice()),
                    exit_code: Some(if failing { 1 } else { 0 }),
                    wall_time: Duration::from_millis(154),
                    cpu_time: Some(Duration::from_millis(8)),
                    memory_peak: Some(1_160_000),
                    ..StageOutcome::default()
                });
                if failing {
                    break;
                }
            }
            self.jobs.lock().unwrap().push(spec);
            Ok(outcome)
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<InstalledImage>, SandboxError>> {
        Box::pin(async {
            Ok(vec![
                InstalledImage {
                    reference: "localhost/whipcode-python:latest".into(),
                    version: Some("Python 3.11.2".into()),
                },
                InstalledImage {
                    reference: "localhost/whipcode-c:latest".into(),
                    version: Some("gcc (Debian 12.2.0-14+deb12u1) 12.2.0".into()),
                },
            ])
        })
    }
}

/// The server's limits in these tests: a 10 s timeout, 512 MiB, 10 CPU s.
const MAX_TIMEOUT_MS: u64 = 10_000;

async fn app() -> (App, Arc<Recording>) {
    let sandbox = Arc::new(Recording::default());
    let mut state = default_state(fresh_key(), languages(), sandbox.clone());
    state.max_bytes = 200_000;
    state.max_timeout = Duration::from_millis(MAX_TIMEOUT_MS);
    (
        App::start(state, false, Duration::from_secs(30)).await,
        sandbox,
    )
}

async fn get(app: &App, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.url));
    if let Some(key) = key {
        request = request.header("X-Master-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn execute_at(app: &App, path: &str, body: &Value) -> (u16, Value) {
    common::post_json(&format!("{}{path}", app.url), Some(KEY), body).await
}

async fn execute(app: &App, body: Value) -> (u16, Value) {
    execute_at(app, "/api/v2/execute", &body).await
}

/// `extra` merged into a Python hello world at version `*`.
fn python(extra: Value) -> Value {
    let mut body = json!({
        "language": "python", "version": "*",
        "files": [{"content": "print('hi')"}],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

/// The message of a refused request, asserting it is a 400 in Piston's shape.
async fn refused(app: &App, body: Value) -> String {
    let (status, answer) = execute(app, body.clone()).await;
    assert_eq!(status, 400, "{body} → {answer}");
    assert_eq!(
        answer.as_object().map(|o| o.len()),
        Some(1),
        "only a message: {answer}"
    );
    answer["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn runtimes_lists_installed_languages_by_piston_name_with_semver_versions() {
    let (app, _) = app().await;
    let (status, body) = get(&app, "/api/v2/runtimes", Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"language": "c", "version": "12.2.0", "aliases": ["gcc"]},
            {"language": "python", "version": "3.11.2", "aliases": ["py", "py3", "python3", "python3.11"]},
        ]),
        "only installed languages, versions made semver"
    );
    let (status, slashed) = get(&app, "/api/v2/runtimes/", Some(KEY)).await;
    assert_eq!(
        (status, &slashed),
        (200, &body),
        "a trailing slash is the same route"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn piston_packages_lists_the_installed_runtimes() {
    let (app, _) = app().await;
    let (status, body) = get(&app, "/api/v2/packages", Some(KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"language": "c", "language_version": "12.2.0", "installed": true},
            {"language": "python", "language_version": "3.11.2", "installed": true},
        ]),
        "what `piston ppman list` reads: every installed runtime"
    );
    let (status, _) = get(&app, "/api/v2/packages", None).await;
    assert_eq!(status, 401, "keyed like every route");
    // Installing and uninstalling (`ppman install`, `uninstall`): refused.
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = reqwest::Client::new()
            .request(method.clone(), format!("{}/api/v2/packages", app.url))
            .header("X-Master-Key", KEY)
            .json(&json!({"language": "python", "version": "3.11.2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["message"].is_string(), "Piston's shape: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_answers_in_pistons_fields_and_units() {
    let (app, _) = app().await;
    let (status, body) = execute(&app, python(json!({"stdin": "hello"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["language"], "python");
    assert_eq!(body["version"], "3.11.2");
    assert!(body.get("compile").is_none(), "Python has no compile stage");
    let run = body["run"].as_object().unwrap();
    let mut fields: Vec<&str> = run.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "code",
            "cpu_time",
            "memory",
            "message",
            "output",
            "signal",
            "status",
            "stderr",
            "stdout",
            "wall_time"
        ]
    );
    assert_eq!(run["stdout"], "hello");
    assert_eq!(run["output"], "hello");
    assert_eq!(run["code"], 0);
    assert_eq!(run["signal"], Value::Null);
    assert_eq!(run["status"], Value::Null);
    assert_eq!(run["wall_time"], 154, "ms");
    assert_eq!(run["cpu_time"], 8, "ms");
    assert_eq!(run["memory"], 1_160_000, "bytes");

    let c = json!({"language": "c", "version": "*", "files": [{"content": "int main(){}"}]});
    let (status, body) = execute(&app, c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["language"], "c");
    assert_eq!(
        body["compile"]["code"], 0,
        "a compiled language has compile"
    );
    assert_eq!(body["run"]["code"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_compile_is_copied_into_run() {
    let (app, sandbox) = app().await;
    let body = json!({"language": "gcc", "version": "12.x",
                      "files": [{"name": "main.c", "content": "COMPILE_ERROR"}]});
    let (status, body) = execute(&app, body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["language"], "c", "the runtime's name, not the alias");
    assert_eq!(body["compile"]["code"], 1);
    assert_eq!(body["compile"]["status"], "RE");
    assert_eq!(body["compile"]["stderr"], "error: nope");
    assert_eq!(body["run"], body["compile"]);
    assert_eq!(sandbox.last().files[0].0, "main.c");
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_messages_come_in_pistons_order_and_words() {
    let (app, _) = app().await;
    let file = json!([{"content": "x"}]);
    for (body, message) in [
        (json!({}), "language is required as a string"),
        (
            json!({"language": 5, "version": 1}),
            "language is required as a string",
        ),
        (
            json!({"language": "", "version": "*"}),
            "language is required as a string",
        ),
        (
            json!({"language": "python"}),
            "version is required as a string",
        ),
        (
            json!({"language": "python", "version": "*"}),
            "files is required as an array",
        ),
        (
            json!({"language": "python", "version": "*", "files": {"content": "x"}}),
            "files is required as an array",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}, {"name": "a"}]}),
            "files[1].content is required as a string",
        ),
        (
            json!({"language": "python", "version": "*", "files": ["print(1)"]}),
            "files[0].content is required as a string",
        ),
        (
            json!({"language": "cobol", "version": "*", "files": file}),
            "cobol-* runtime is unknown",
        ),
        (
            json!({"language": "python", "version": "2.x", "files": file}),
            "python-2.x runtime is unknown",
        ),
        (
            json!({"language": "python", "version": "latest", "files": file}),
            "python-latest runtime is unknown",
        ),
        (
            json!({"language": "javascript", "version": "*", "files": file}),
            "javascript-* runtime is unknown",
        ),
        (
            json!({"language": "python", "version": "*", "files": []}),
            "files must include at least one utf8 encoded file",
        ),
        (
            json!({"language": "python", "version": "*",
                   "files": [{"content": "eA==", "encoding": "base64"}]}),
            "files must include at least one utf8 encoded file",
        ),
    ] {
        assert_eq!(refused(&app, body.clone()).await, message, "{body}");
    }
    // The limits, memory before timeout before CPU time, compile before run.
    for (extra, message) in [
        (
            json!({"run_memory_limit": "1", "compile_memory_limit": "1"}),
            "If specified, compile_memory_limit must be a number",
        ),
        (
            json!({"run_timeout": "3000", "compile_memory_limit": "x"}),
            "If specified, compile_memory_limit must be a number",
        ),
        (
            json!({"run_timeout": "3000"}),
            "If specified, run_timeout must be a number",
        ),
        (
            json!({"compile_timeout": 10_001}),
            "compile_timeout cannot exceed the configured limit of 10000",
        ),
        (
            json!({"run_memory_limit": 1_u64 << 40}),
            "run_memory_limit cannot exceed the configured limit of 536870912",
        ),
        (
            json!({"run_cpu_time": 10_001}),
            "run_cpu_time cannot exceed the configured limit of 10000",
        ),
        (
            json!({"run_timeout": -2}),
            "run_timeout must be non-negative",
        ),
        (
            json!({"run_cpu_time": -1000, "run_timeout": 1e300}),
            "run_timeout cannot exceed the configured limit of 10000",
        ),
    ] {
        assert_eq!(
            refused(&app, python(extra.clone())).await,
            message,
            "{extra}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn minus_one_and_zero_mean_the_servers_limit_and_units_are_ms_and_bytes() {
    let (app, sandbox) = app().await;
    let server = Duration::from_millis(MAX_TIMEOUT_MS);
    let c = |extra: Value| {
        let mut body =
            json!({"language": "c", "version": "*", "files": [{"content": "int main(){}"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let limits = |spec: &RunSpec| {
        spec.stages
            .iter()
            .map(|s| (s.name.clone(), s.timeout, s.cpu_time, s.memory_mb))
            .collect::<Vec<_>>()
    };

    // What the npm piston-client sends by default.
    let (status, _) = execute(
        &app,
        c(json!({"compile_timeout": 10000, "run_timeout": 3000,
                 "compile_memory_limit": -1, "run_memory_limit": -1})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        limits(&sandbox.last()),
        [
            ("compile".into(), Duration::from_secs(10), None, None),
            ("run".into(), Duration::from_secs(3), None, None),
        ]
    );

    // 0 does not disable a limit: like -1 and absence, it is the server's.
    for none in [json!(0), json!(-1), json!(null)] {
        let (status, _) = execute(
            &app,
            c(json!({"compile_timeout": none, "run_timeout": none,
                     "run_memory_limit": none, "run_cpu_time": none})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            limits(&sandbox.last()),
            [
                ("compile".into(), server, None, None),
                ("run".into(), server, None, None),
            ],
            "{none}"
        );
    }

    // ms and bytes; memory rounded up to whole MiB.
    let (status, _) = execute(
        &app,
        c(json!({"run_timeout": 1500, "run_cpu_time": 250.5,
                 "run_memory_limit": 64 * 1024 * 1024 + 1, "compile_memory_limit": 128 << 20})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        limits(&sandbox.last()),
        [
            ("compile".into(), server, None, Some(128)),
            (
                "run".into(),
                Duration::from_millis(1500),
                Some(Duration::from_millis(251)),
                Some(65)
            ),
        ]
    );

    // Below the sandbox's floor, a clear refusal rather than a broken run.
    let message = refused(&app, c(json!({"run_memory_limit": 1000}))).await;
    assert_eq!(
        message,
        "run_memory_limit must be at least 16777216 (the sandbox's floor)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_and_semver_ranges_pick_the_runtime() {
    let (app, _) = app().await;
    for (language, version, want) in [
        ("py", "3.x", "python"),
        ("python3", "3.11.2", "python"),
        ("py3", "3", "python"),
        ("python", ">=3.10 <4", "python"),
        ("gcc", "*", "c"),
        ("c", "12.2", "c"),
    ] {
        let body = json!({"language": language, "version": version,
                          "files": [{"content": "x"}]});
        let (status, answer) = execute(&app, body).await;
        assert_eq!(status, 200, "{language} {version}: {answer}");
        assert_eq!(answer["language"], want);
    }
    for (language, version) in [("python", "3.11.3"), ("python", "3.12"), ("Python", "*")] {
        let message = refused(
            &app,
            json!({"language": language, "version": version, "files": [{"content": "x"}]}),
        )
        .await;
        assert_eq!(message, format!("{language}-{version} runtime is unknown"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_programs_arguments_and_stdin_reach_it_exactly() {
    let (app, sandbox) = app().await;
    let (status, body) = execute(
        &app,
        python(json!({"args": ["1", "two words", "$(id)"], "stdin": "no newline"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["run"]["stdout"], "no newline", "no newline appended");
    let spec = sandbox.last();
    assert_eq!(spec.stdin, &b"no newline"[..]);
    assert_eq!(
        spec.stages[0].steps[0],
        ["python3", "source.py", "1", "two words", "$(id)"],
        "after the program, each one argument, never through a shell"
    );
    // C: to the program, not to the compiler.
    let body = json!({"language": "c", "version": "*", "args": ["-x"],
                      "files": [{"content": "int main(){}"}]});
    assert_eq!(execute(&app, body).await.0, 200);
    let spec = sandbox.last();
    assert!(!spec.stages[0].steps[0].contains(&"-x".to_owned()));
    assert_eq!(spec.stages[1].steps[0], ["/tmp/a.out", "-x"]);

    for (args, message) in [
        (json!("1 2"), "args must be an array of strings"),
        (json!([1]), "args must be an array of strings"),
        (json!(["a\u{0}b"]), "args must not contain NUL characters"),
    ] {
        assert_eq!(refused(&app, python(json!({"args": args}))).await, message);
    }
    assert_eq!(
        refused(&app, python(json!({"stdin": 5}))).await,
        "stdin must be a string"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_unnamed_named_encoded_and_escaping() {
    let (app, sandbox) = app().await;
    let names = |spec: &RunSpec| {
        spec.files
            .iter()
            .map(|(n, c)| (n.clone(), String::from_utf8_lossy(c).into_owned()))
            .collect::<Vec<_>>()
    };
    // The first utf8 file is the one run, and is written first; an empty
    // name is no name; unnamed others are file<i>.code as in Piston.
    let body = python(json!({"files": [
        {"name": "data.bin", "content": "aGk=", "encoding": "base64"},
        {"name": "", "content": "print(1)"},
        {"content": "6869", "encoding": "hex"},
        {"name": "./pkg//mod.py", "content": "X = 1"},
    ]}));
    assert_eq!(execute(&app, body).await.0, 200);
    let spec = sandbox.last();
    assert_eq!(
        names(&spec),
        [
            ("source.py".into(), "print(1)".into()),
            ("data.bin".into(), "hi".into()),
            ("file2.code".into(), "hi".into()),
            ("pkg/mod.py".into(), "X = 1".into()),
        ]
    );
    assert_eq!(spec.stages[0].steps[0], ["python3", "source.py"]);
    // A named entry keeps its name, and gets the language's extension if it lacks one.
    let body = python(json!({"files": [{"name": "app/main.py", "content": "x"}]}));
    assert_eq!(execute(&app, body).await.0, 200);
    assert_eq!(
        sandbox.last().stages[0].steps[0],
        ["python3", "app/main.py"]
    );
    let body =
        json!({"language": "c", "version": "*", "files": [{"name": "prog", "content": "x"}]});
    assert_eq!(execute(&app, body).await.0, 200);
    assert_eq!(sandbox.last().files[0].0, "prog.c");

    // Piston answers an escaping name with a 500; here it is the client's 400.
    for (name, why) in [
        ("../escape.py", "contains a `..` component"),
        ("a/../../b", "contains a `..` component"),
        ("/etc/passwd", "is absolute"),
        (".", "is empty"),
    ] {
        let message = refused(
            &app,
            python(json!({"files": [{"content": "x"}, {"name": name, "content": "y"}]})),
        )
        .await;
        assert_eq!(message, format!("files[1].name \"{name}\" {why}"));
    }
    for (files, message) in [
        (
            json!([{"content": "x"}, {"name": "source.py", "content": "y"}]),
            "files[1].name \"source.py\" names a file already given",
        ),
        (
            json!([{"content": "x"}, {"name": 5, "content": "y"}]),
            "files[1].name must be a string",
        ),
        (
            json!([{"content": "x"}, {"content": "!!", "encoding": "base64"}]),
            "files[1].content is not valid base64: Invalid symbol 33, offset 0.",
        ),
        (
            json!([{"content": "x"}, {"content": "zz", "encoding": "hex"}]),
            "files[1].content is not valid hex: Invalid character 'z' at position 0",
        ),
        (
            json!([{"content": "x"}, {"content": "y", "encoding": "utf16"}]),
            "files[1].encoding must be one of utf8, base64, hex",
        ),
    ] {
        assert_eq!(
            refused(&app, python(json!({ "files": files }))).await,
            message
        );
    }
    let many: Vec<Value> = (0..1000).map(|_| json!({"content": ""})).collect();
    let mut body = python(json!({}));
    body["files"] = Value::Array(many);
    body["files"][0]["content"] = json!("print(1)");
    assert_eq!(
        refused(&app, body).await,
        "files has 1000 entries; at most 256 files are allowed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_answers_with_and_without_a_trailing_slash() {
    let (app, _) = app().await;
    let (status, body) = execute_at(&app, "/api/v2/execute/", &python(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["language"], "python");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_labelled_text_plain_is_taken_as_the_npm_piston_client_sends_it() {
    let (app, _) = app().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v2/execute", app.url))
        .header("X-Master-Key", KEY)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(python(json!({})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Not from a browser page, whatever it sends: a page elsewhere may post
    // text/plain without asking, a page of the gateway's own origin JSON.
    for kind in ["text/plain;charset=UTF-8", "application/json"] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/execute", app.url))
            .header("X-Master-Key", KEY)
            .header("content-type", kind)
            .header("origin", "https://elsewhere.example")
            .body(python(json!({})).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{kind}");
    }
    // whipcode's own route keeps its rule.
    let response = reqwest::Client::new()
        .post(format!("{}/run", app.url))
        .header("X-Master-Key", KEY)
        .header("content-type", "text/plain")
        .body(json!({"language_id": 1, "code": "eA=="}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test(flavor = "multi_thread")]
async fn piston_routes_refuse_in_pistons_shape_and_other_paths_keep_whipcodes() {
    let (app, _) = app().await;
    let (status, body) = get(&app, "/api/v2/runtimes", None).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "invalid or missing master key"}));
    let (status, body) = get(&app, "/api/v2/nope", Some(KEY)).await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));
    let (status, body) = get(&app, "/nope", Some(KEY)).await;
    assert_eq!((status, body), (404, json!({"detail": "not found"})));
    let client = reqwest::Client::new();
    let response = client
        .delete(format!("{}/api/v2/runtimes", app.url))
        .header("X-Master-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");

    let post = |body: reqwest::Body, kind: &'static str, key: &'static str| {
        client
            .post(format!("{}/api/v2/execute", app.url))
            .header("X-Master-Key", key)
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let response = post("{}".into(), "application/x-www-form-urlencoded", KEY)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "requests must be of type application/json"})
    );
    let response = post("{}".into(), "application/json", "wrong")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let big = vec![b' '; 300_000];
    let response = post(big.into(), "application/json", KEY).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // The body was not read: the connection ends, and the client is told
    // (else it would send the next request on a closing connection).
    assert_eq!(response.headers()["connection"], "close");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "request body is larger than 200000 bytes"})
    );
    let response = post("{nope".into(), "application/json", KEY).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{body}"
    );
    let response = post("[1]".into(), "application/json", KEY).await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"message": "the body must be a JSON object"}));
}

/// A value of `schema`'s type, every property present: `"x"` for a
/// string, an enum's first value, -1 for a number (the limits' "the
/// server's"), one item for an array.
fn generated(doc: &Value, schema: &Value) -> Value {
    let schema = resolved(doc, schema);
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("string") => json!("x"),
        Some("number") | Some("integer") => json!(-1),
        Some("boolean") => json!(true),
        Some("array") => json!([generated(doc, &schema["items"])]),
        Some("object") => schema["properties"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, property)| (name.clone(), generated(doc, property)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => panic!("a schema this test cannot make a value of: {other:?} {schema}"),
    }
}

/// The document as the service serves it, and `execute`'s request schema
/// in it (the same at `execute/`).
async fn execute_schema(app: &App) -> (Value, Value) {
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = |path: &str| {
        doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    assert_eq!(body("/api/v2/execute"), body("/api/v2/execute/"));
    let schema = resolved(&doc, &body("/api/v2/execute")).clone();
    (doc, schema)
}

fn property_names(schema: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_execute_body_is_pistons_fields_exactly() {
    // A field dropped from (or added to) the struct serde reads changes the
    // document, and this list.
    let (app, _) = app().await;
    let (doc, schema) = execute_schema(&app).await;
    let mut piston = [
        "language",
        "version",
        "files",
        "stdin",
        "args",
        "compile_timeout",
        "run_timeout",
        "compile_cpu_time",
        "run_cpu_time",
        "compile_memory_limit",
        "run_memory_limit",
    ];
    piston.sort_unstable();
    assert_eq!(property_names(&schema), piston, "{schema}");
    assert_eq!(schema["required"], json!(["language", "version", "files"]));
    let file = resolved(
        &doc,
        &resolved(&doc, &schema["properties"]["files"])["items"],
    );
    assert_eq!(
        property_names(file),
        ["content", "encoding", "name"],
        "{file}"
    );
    assert_eq!(file["required"], json!(["content"]));
    let encoding = resolved(&doc, &file["properties"]["encoding"]);
    assert_eq!(encoding["enum"], json!(["utf8", "base64", "hex"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_made_from_the_documented_schema_is_read_whole_and_run() {
    use whipcode::api::piston::request::PistonExecute;
    let (app, sandbox) = app().await;
    let (doc, schema) = execute_schema(&app).await;
    let mut body = generated(&doc, &schema);
    // Every field is read as what the document says it is: none is left
    // unread or kept as an invalid value.
    let parsed = format!("{:?}", PistonExecute::from_json(body.clone()).unwrap());
    assert!(
        !parsed.contains("Invalid") && !parsed.contains("Absent"),
        "{body} → {parsed}"
    );
    // The runtime named is one installed (a string is not enough for that).
    body["language"] = json!("python");
    body["version"] = json!("*");
    let (status, answer) = execute(&app, body.clone()).await;
    assert_eq!(status, 200, "{body} → {answer}");
    let spec = sandbox.last();
    assert_eq!(spec.files.len(), 1);
    assert_eq!(
        (&spec.files[0].0[..], &spec.files[0].1[..]),
        ("x.py", &b"x"[..])
    );
    assert_eq!(spec.stdin, &b"x"[..]);
    assert_eq!(spec.stages[0].steps[0], ["python3", "x.py", "x"]);

    // Fields Piston does not know are ignored, as Piston ignores them, at
    // the top and in a file.
    let mut more = body.clone();
    more["unknown_field"] = json!({"any": ["thing", 1]});
    more["files"][0]["mode"] = json!(755);
    assert_eq!(
        format!("{:?}", PistonExecute::from_json(more.clone()).unwrap()),
        format!("{:?}", PistonExecute::from_json(body).unwrap())
    );
    let (status, answer) = execute(&app, more.clone()).await;
    assert_eq!(status, 200, "{more} → {answer}");
    assert_eq!(sandbox.last().files, spec.files);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interactive_init_reads_the_same_documented_body() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let (app, _) = app().await;
    let (doc, schema) = execute_schema(&app).await;
    let mut init = generated(&doc, &schema);
    init["language"] = json!("py");
    init["version"] = json!("3.x");
    init["type"] = json!("init");
    let url = app.url.replace("http://", "ws://") + "/api/v2/connect";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-master-key", KEY.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let Some(Ok(Message::Text(first))) = socket.next().await else {
        panic!("no answer to {init}");
    };
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        first,
        json!({"type": "runtime", "language": "python", "version": "3.11.2"})
    );
}
