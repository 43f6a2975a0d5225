//! Several files and separate compile and run stages, on real podman: files
//! beside the entry file (subdirectories too), file names that try to
//! escape refused at the border, the compile stage reported apart from the
//! run with its own output, figures and limits, and the original's request
//! shape answered exactly as before.
// The podman lock is a std mutex held for the whole test on purpose: one podman test at a time.
#![allow(clippy::await_holding_lock)]

mod common;

use std::time::Duration;

use common::{b64, Service};
use serde_json::{json, Value};
use whipcode::sandbox::{Limits, RunSpec, Sandbox, StageSpec, UserNamespace};

const PYTHON: u32 = 1;
const C: u32 = 7;
const JAVA: u32 = 12;

fn file(name: &str, content: &str) -> Value {
    json!({"name": name, "content": b64(content)})
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn several_files_compile_errors_and_stage_timeouts_through_post_run() {
    let _podman = common::podman_test();
    let svc = Service::start(&["--timeout", "8"]);

    // Two Python files, one importing the other (from a subdirectory).
    let body = svc
        .run_ok(
            PYTHON,
            "from pkg.greet import hello\nprint(hello('files'))",
            json!({"files": [
                file("pkg/__init__.py", ""),
                file("./pkg//greet.py", "def hello(n):\n    return 'hello ' + n\n"),
            ]}),
        )
        .await;
    assert_eq!(body["stdout"], "hello files\n", "{body}");
    assert!(body.get("compile").is_none(), "python has no compile stage");

    // C with a header beside the source; the compile stage on its own.
    let body = svc
        .run_ok(
            C,
            "#include <stdio.h>\n#include \"answer.h\"\nint main(void){printf(\"%d\\n\", ANSWER);return 0;}",
            json!({"files": [file("answer.h", "#define ANSWER 42\n")]}),
        )
        .await;
    assert_eq!(body["stdout"], "42\n", "{body}");
    let compile = &body["compile"];
    assert_eq!(compile["exit_code"], 0, "{body}");
    assert_eq!(compile["stdout"], "");
    assert_eq!(compile["timeout"], false);
    let wall = compile["wall_time"].as_f64().unwrap();
    let cpu = compile["cpu_time"].as_f64().unwrap();
    let peak = compile["memory_peak"].as_u64().unwrap();
    assert!(wall > 0.0 && wall < 8.0, "{body}");
    assert!(cpu > 0.0 && cpu < 8.0, "{body}");
    assert!(peak > 1 << 20 && peak <= 512 << 20, "{body}");
    // The run's figures still cover the whole run.
    assert!(body["cpu_time"].as_f64().unwrap() >= cpu, "{body}");

    // Two C files compiled together.
    let body = svc
        .run_ok(
            C,
            "#include <stdio.h>\nint twice(int);\nint main(void){printf(\"%d\\n\", twice(21));return 0;}",
            json!({"files": [file("lib/twice.c", "int twice(int x){ return 2 * x; }\n")]}),
        )
        .await;
    assert_eq!(body["stdout"], "42\n", "{body}");

    // A compile error: in `compile`, at the top level as before, no run.
    let body = svc
        .run_ok(C, "int main(void){ return missing; }", json!({}))
        .await;
    assert_ne!(body["compile"]["exit_code"], 0, "{body}");
    let error = body["compile"]["stderr"].as_str().unwrap();
    assert!(error.contains("missing"), "{body}");
    assert_eq!(
        body["stderr"], body["compile"]["stderr"],
        "top level unchanged"
    );
    assert_eq!(body["exit_code"], body["compile"]["exit_code"]);
    assert_eq!(body["stdout"], "");

    // The compile stage's own timeout, apart from the run's.
    let slow_compile =
        "#include <stdio.h>\n#define A(x) x x x x x x x x\n#define B(x) A(A(A(A(x))))\n\
                        int main(void){ B(A(puts(\"x\");)) return 0; }";
    let body = svc
        .run_ok(C, slow_compile, json!({"compile_timeout": 1, "timeout": 8}))
        .await;
    assert_eq!(body["compile"]["timeout"], true, "{body}");
    assert_eq!(body["timeout"], true, "{body}");
    let wall = body["compile"]["wall_time"].as_f64().unwrap();
    assert!(
        (0.9..4.0).contains(&wall),
        "compile stopped at its own 1 s: {body}"
    );

    // A run timeout is the run stage's, after a compile that finished.
    let body = svc
        .run_ok(
            C,
            "#include <unistd.h>\nint main(void){ sleep(30); return 0; }",
            json!({"timeout": 1, "compile_timeout": 8}),
        )
        .await;
    assert_eq!(body["compile"]["timeout"], false, "{body}");
    assert_eq!(body["compile"]["exit_code"], 0, "{body}");
    assert_eq!(body["timeout"], true, "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn several_java_files_compile_with_javac_and_main_runs() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let main = "public class Main { public static void main(String[] a) { System.out.println(new Greeter().greet(\"java\")); } }";
    let greeter = "public class Greeter { String greet(String n) { return \"hello \" + n; } }";
    let body = svc
        .run_ok(
            JAVA,
            main,
            json!({"files": [file("Greeter.java", greeter)]}),
        )
        .await;
    assert_eq!(body["stdout"], "hello java\n", "{body}");
    assert_eq!(
        body["compile"]["exit_code"], 0,
        "javac ran as its own stage: {body}"
    );
    // One file keeps the source launcher: no compile stage.
    let body = svc
        .run_ok(
            JAVA,
            "public class Main { public static void main(String[] a) { System.out.println(1); } }",
            json!({}),
        )
        .await;
    assert_eq!(body["stdout"], "1\n");
    assert!(body.get("compile").is_none(), "{body}");
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn file_names_that_escape_are_400_naming_the_file_and_the_count_is_capped() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    for (name, why) in [
        ("../x", "`..`"),
        ("/etc/x", "absolute"),
        ("a/../../x", "`..`"),
        ("", "empty"),
        ("./", "empty"),
        ("a\u{0}b", "NUL"),
        ("source.py", "already given"),
    ] {
        let (status, body) = svc
            .run(
                json!({"language_id": PYTHON, "code": b64("print(1)"), "files": [file(name, "x")]}),
            )
            .await;
        assert_eq!(status, 400, "{name:?}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("files[0].name") && detail.contains(why),
            "{name:?}: {detail}"
        );
    }
    let many =
        |n: usize| -> Vec<Value> { (0..n).map(|i| file(&format!("f{i}.txt"), "x")).collect() };
    let code = b64("import os\nprint(len([f for f in os.listdir('.') if f.startswith('f')]))");
    let (status, body) = svc
        .run(json!({"language_id": PYTHON, "code": code, "files": many(255)}))
        .await;
    assert_eq!(status, 200, "256 files with the entry: {body}");
    assert_eq!(body["stdout"], "255\n");
    let (status, body) = svc
        .run(json!({"language_id": PYTHON, "code": code, "files": many(256)}))
        .await;
    assert_eq!(status, 400, "257 files: {body}");
    assert!(body["detail"].as_str().unwrap().contains("at most 256"));
    svc.stop_and_check_clean();
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn the_originals_request_shape_is_answered_exactly_as_before() {
    let _podman = common::podman_test();
    let svc = Service::start(&[]);
    let (status, body) = svc
        .run(json!({"language_id": "1", "code": b64("print('hi')"), "timeout": "5"}))
        .await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for original in ["stdout", "stderr", "container_age", "timeout"] {
        assert!(keys.contains(&original), "{body}");
    }
    assert!(!keys.contains(&"compile"), "{body}");
    assert_eq!(body["stdout"], "hi\n");
    // A compiled language's warnings stay in the top-level stderr.
    let (_, body) = svc
        .run(json!({"language_id": C, "code": b64("#warning careful\nint main(void){return 0;}")}))
        .await;
    assert!(
        body["stderr"].as_str().unwrap().contains("careful"),
        "{body}"
    );
    assert!(
        body["compile"]["stderr"]
            .as_str()
            .unwrap()
            .contains("careful"),
        "{body}"
    );
    assert_eq!(body["exit_code"], 0);
    svc.stop_and_check_clean();
}

/// The sandbox on its own, as the peers' APIs will drive it: per-stage
/// memory and CPU-time limits.
async fn sandbox() -> whipcode::sandbox::SandboxHandle {
    whipcode::sandbox::start(whipcode::sandbox::Settings {
        podman: "podman".into(),
        runner: common::runner(),
        instance: format!("s{:08x}", rand::random::<u32>()),
        max_concurrent: 2,
        max_queue: 4,
        output_limit: 1 << 20,
        userns: UserNamespace::PerRun,
        pool_size: 0,
        memory_mb: 512,
        engine: whipcode::sandbox::EngineChoice::Crun,
        crun: "crun".into(),
    })
    .await
    .unwrap()
}

fn c_job(code: &str, run_memory_mb: Option<u64>, run_cpu: Option<Duration>) -> RunSpec {
    let c = whipcode::languages::LanguageMap::load(None)
        .unwrap()
        .get(C)
        .unwrap()
        .clone();
    let stages = c
        .stages(&whipcode::languages::Invocation::of(&c.source))
        .into_iter()
        .map(|(name, steps)| StageSpec {
            name: name.into(),
            steps,
            timeout: Duration::from_secs(10),
            cpu_time: (name == "run").then_some(run_cpu).flatten(),
            memory_mb: (name == "run").then_some(run_memory_mb).flatten(),
            ..StageSpec::default()
        })
        .collect();
    RunSpec {
        image: c.image_ref(),
        files: vec![(c.source.clone(), code.as_bytes().to_vec().into())],
        stages,
        env: c.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        stdin: Default::default(),
        limits: Limits::default(),
    }
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_stage_memory_limit_below_the_compile_stages_kills_only_the_run() {
    let _podman = common::podman_test();
    let host_before = common::host_container_count();
    let handle = sandbox().await;
    // Touches 200 MiB: more than the run's 64 MiB, less than the container's 512.
    let hog = "#include <stdlib.h>\n#include <string.h>\n#include <stdio.h>\n\
               int main(void){ size_t n = 200u<<20; volatile char *p = malloc(n); \
               for (size_t i = 0; i < n; i += 4096) p[i] = 1; \
               printf(\"%d\\n\", p[n-1]); return 0; }";
    let limited = handle
        .sandbox()
        .run(c_job(hog, Some(64), None))
        .await
        .unwrap();
    let [compile, run] = &limited.stages[..] else {
        panic!("{limited:?}")
    };
    assert_eq!(
        compile.exit_code,
        Some(0),
        "compiling fits the container's limit"
    );
    assert_eq!(
        run.signal,
        Some(9),
        "the run is killed by its own limit: {limited:?}"
    );
    assert!(limited.oom_killed);
    assert!(
        run.memory_peak.unwrap() <= 64 << 20,
        "{:?}",
        run.memory_peak
    );
    // The same program with the container's limit runs, and its stage peak shows it.
    let free = handle.sandbox().run(c_job(hog, None, None)).await.unwrap();
    assert_eq!(free.exit_code, Some(0), "{free:?}");
    assert!(free.stages[1].memory_peak.unwrap() >= 200 << 20);
    handle.shutdown(Duration::from_secs(30)).await;
    common::wait_for_host_count(host_before);
}

#[ignore = "needs podman and the core images"]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_stage_cpu_budget_in_milliseconds_is_honoured_within_100_ms() {
    let _podman = common::podman_test();
    let host_before = common::host_container_count();
    let handle = sandbox().await;
    let spin = "int main(void){ volatile unsigned long i = 0; for(;;) i++; }";
    let outcome = handle
        .sandbox()
        .run(c_job(spin, None, Some(Duration::from_millis(300))))
        .await
        .unwrap();
    let run = &outcome.stages[1];
    assert!(run.timed_out && run.cpu_limited, "{outcome:?}");
    let cpu = run.cpu_time.unwrap();
    assert!(
        cpu >= Duration::from_millis(300) && cpu <= Duration::from_millis(400),
        "stopped at {cpu:?}"
    );
    assert!(
        !outcome.stages[0].timed_out,
        "the compile stage had no budget"
    );
    handle.shutdown(Duration::from_secs(30)).await;
    common::wait_for_host_count(host_before);
}
