//! The Judge0 IDE's flow in a real browser: a page of the project's own
//! (`tests/browser/judge0-ide`) doing what the Judge0 IDE does, served from
//! another origin than the gateway (nginx configured by
//! `deploy/nginx-whipcode.conf`), in Debian's Chromium driven by
//! playwright-core. With the page's origin in `--cors-origins` it lists the
//! languages, posts the IDE's body and polls the token; without it, the
//! browser refuses the page every answer and nothing runs.

mod common;

use common::browser::{browser_test, run_script, PageServer};
use common::gateway::{behind_nginx, Gateway};
use serde_json::{json, Value};

/// Judge0 CE's ids of Python 3.8 and C (GCC 9.2.0).
const PYTHON: u32 = 71;
const C: u32 = 50;

/// The page at `origin`, talking to Judge0's API through `gateway`.
fn page(origin: &str, gateway: &Gateway) -> String {
    format!("{origin}/index.html?api={}/judge0", gateway.url)
}

/// What the page showed, per visit, after the runs of `visits`.
fn visit(visits: Value) -> Vec<Value> {
    let shown = run_script("judge0-ide.mjs", &visits);
    shown.as_array().expect("one result per visit").clone()
}

/// The gateway's log lines of requests with `method` to a Judge0 submission.
fn submissions(gateway: &Gateway, method: &str) -> usize {
    let request = format!("\"{method} /judge0/submissions");
    gateway.access_log().matches(&request).count()
}

#[ignore = "needs podman, the core images, nginx, Node, Chromium and playwright-core"]
#[test]
fn the_judge0_ide_page_runs_python_and_shows_a_c_compile_error_from_another_origin() {
    let _podman = browser_test();
    let pages = PageServer::start("judge0-ide", 1);
    let origin = &pages.origins[0];
    let (svc, gateway) = behind_nginx(&["--cors-origins", origin]);
    let shown = visit(json!([{"page": page(origin, &gateway), "runs": [
        {"language_id": PYTHON, "source": "name = input()\nprint(f\"Hello, {name}!\")\n",
         "stdin": "Ada"},
        {"language_id": C, "source": "int main(void) { return undeclared; }\n", "stdin": ""},
    ]}]));
    let shown = &shown[0];
    assert_eq!(shown["languages"]["state"], "loaded", "{shown}");
    assert_eq!(shown["console"], json!([]), "the page logged no error");

    let python = &shown["runs"][0];
    assert_eq!(python["listed"], true, "{python}");
    assert!(
        text(python, "language-name").starts_with("Python"),
        "{python}"
    );
    assert_eq!(python["status"], "Accepted", "{python}");
    assert_eq!(python["stdout"], "Hello, Ada!\n", "{python}");
    assert_eq!(python["compile-output"], "", "{python}");
    assert_eq!(python["error"], "", "{python}");

    let c = &shown["runs"][1];
    assert_eq!(c["listed"], true, "{c}");
    assert!(text(c, "language-name").starts_with("C "), "{c}");
    assert_eq!(c["status"], "Compilation Error", "{c}");
    assert!(text(c, "compile-output").contains("undeclared"), "{c}");
    assert!(text(c, "compile-output").contains("error"), "{c}");
    assert_eq!(c["stdout"], "", "{c}");
    assert_eq!(c["error"], "", "{c}");

    // Cross-origin for real: the browser asked first (a preflight, which
    // it may then cache for the second POST).
    assert!(
        submissions(&gateway, "OPTIONS") >= 1,
        "{}",
        gateway.access_log()
    );
    assert_eq!(submissions(&gateway, "POST"), 2, "{}", gateway.access_log());
    drop(gateway);
    svc.stop_and_check_clean();
}

#[ignore = "needs podman, the core images, nginx, Node, Chromium and playwright-core"]
#[test]
fn the_ide_page_is_refused_when_its_origin_is_not_configured() {
    let _podman = browser_test();
    let pages = PageServer::start("judge0-ide", 2);
    let (listed, other) = (&pages.origins[0], &pages.origins[1]);
    // The default: no --cors-origins, no CORS at all.
    let (svc, gateway) = behind_nginx(&[]);
    // Another origin than the page's configured.
    let (svc_elsewhere, gateway_elsewhere) = behind_nginx(&["--cors-origins", listed]);
    let run = json!({"language_id": PYTHON, "source": "print('ran')\n", "stdin": ""});
    let shown = visit(json!([
        {"page": page(listed, &gateway), "runs": [run]},
        {"page": page(other, &gateway_elsewhere), "runs": [run]},
    ]));
    for shown in &shown {
        assert_eq!(shown["languages"]["state"], "failed", "{shown}");
        assert_eq!(shown["languages"]["shown"], "TypeError: Failed to fetch");
        let run = &shown["runs"][0];
        assert_eq!(run["listed"], false, "{run}");
        assert_eq!(run["error"], "TypeError: Failed to fetch", "{run}");
        assert_eq!(run["status"], "", "{run}");
        let console = shown["console"].to_string();
        assert!(console.contains("blocked by CORS policy"), "{console}");
    }
    // The browser asked (a preflight) and, refused, never posted: nothing ran.
    for gateway in [&gateway, &gateway_elsewhere] {
        assert_eq!(
            submissions(gateway, "OPTIONS"),
            1,
            "{}",
            gateway.access_log()
        );
        assert_eq!(submissions(gateway, "POST"), 0, "{}", gateway.access_log());
    }
    drop((gateway, gateway_elsewhere));
    svc.stop_and_check_clean();
    svc_elsewhere.stop_and_check_clean();
}

fn text<'a>(shown: &'a Value, field: &str) -> &'a str {
    shown[field].as_str().unwrap_or_default()
}
