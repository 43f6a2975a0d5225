//! A test that needs what plain `cargo test` may not have (podman and the
//! core images, nginx and Node, the Python tools, redis-server) is marked `#[ignore]` with
//! its reason, so it is reported as ignored, never as passed; `./task test`
//! runs it with `--include-ignored`, where a missing piece is a failure.

mod scan;

use std::path::Path;

use scan::code_only;

/// What a test's own body calls when it needs podman or the tools.
const NEEDS: &[&str] = &[
    "podman_test()",
    "gateway_test()",
    "Service::start",
    "tools::python()",
    "judge0::sdk(",
    "Redis::start",
    "haproxy_test()",
];

/// Each test function of `text`: its name, whether it is marked `#[ignore`,
/// and its body.
fn tests_of(text: &str) -> Vec<(String, bool, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if !(trimmed == "#[test]" || trimmed.starts_with("#[tokio::test")) {
            continue;
        }
        let attrs_start = (0..i)
            .rev()
            .take_while(|j| {
                lines[*j].trim().starts_with("#[") || lines[*j].trim().starts_with("///")
            })
            .last()
            .unwrap_or(i);
        let Some(at) = (i..lines.len()).find(|j| lines[*j].contains("fn ")) else {
            continue;
        };
        let ignored = lines[attrs_start..at]
            .iter()
            .any(|l| l.contains("#[ignore"));
        let name = lines[at].split("fn ").nth(1).unwrap_or_default();
        let name = name.split('(').next().unwrap_or_default().to_owned();
        let mut depth = 0i64;
        let mut body = String::new();
        for line in lines[at..].iter().map(|l| code_only(l)) {
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            body.push_str(&line);
            body.push('\n');
            if depth <= 0 && line.contains('}') {
                break;
            }
        }
        found.push((name, ignored, body));
    }
    found
}

#[test]
fn every_test_that_needs_podman_or_the_tools_is_marked_ignored() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut unmarked = Vec::new();
    let mut marked = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("honest_skips.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, ignored, body) in tests_of(&text) {
            let needs = NEEDS.iter().any(|n| body.contains(n));
            marked += usize::from(ignored);
            if needs && !ignored {
                unmarked.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(marked > 50, "the marked tests were found: {marked}");
    assert!(
        unmarked.is_empty(),
        "tests that need podman or the tools without #[ignore = \"…\"]:\n{}",
        unmarked.join("\n")
    );
}

#[test]
fn the_scan_sees_a_marked_and_an_unmarked_podman_test() {
    let text = "#[test]\n#[ignore = \"needs podman\"]\nfn a() {\n    let _p = common::podman_test();\n}\n\n#[tokio::test]\nasync fn b() {\n    let s = \"{\";\n    let _p = common::podman_test();\n}\n#[test]\nfn c() {}\n";
    let found = tests_of(text);
    let summary: Vec<(&str, bool)> = found.iter().map(|(n, i, _)| (n.as_str(), *i)).collect();
    assert_eq!(summary, [("a", true), ("b", false), ("c", false)]);
    assert!(found[1].2.contains("podman_test()"));
}
