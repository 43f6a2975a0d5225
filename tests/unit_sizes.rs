//! Units stay small enough to read: no source file of the service or of the
//! sandbox crate over [`MAX_FILE_LINES`] lines, and no function outside
//! tests over [`MAX_FN_LINES`], but for the few written out on purpose
//! ([`LONG_ON_PURPOSE`]).
//!
//! Read from the text: a function runs from its `fn` line to the line where
//! its braces close (strings, characters and comments do not count).

mod scan;

use std::path::{Path, PathBuf};

use scan::functions;

const MAX_FILE_LINES: usize = 450;
const MAX_FN_LINES: usize = 80;

/// Functions allowed to be long, and why.
const LONG_ON_PURPOSE: &[(&str, &str)] = &[
    // The security policy read top to bottom, one field after another.
    ("crates/sandbox/src/policy.rs", "container_spec"),
    ("crates/sandbox/src/crun/oci.rs", "config"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file checked, as a path from the workspace's root.
fn checked_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["src", "crates/sandbox/src"] {
        sources(&root().join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.strip_prefix(root()).unwrap().display().to_string();
            (name, text)
        })
        .collect()
}

#[test]
fn no_source_file_is_longer_than_a_reader_can_hold() {
    let files = checked_files();
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .map(|(name, text)| (name, text.lines().count()))
        .filter(|(_, lines)| *lines > MAX_FILE_LINES)
        .map(|(name, lines)| format!("{name}: {lines} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_is_longer_than_a_screenful_but_the_policy_literals() {
    let mut long = Vec::new();
    let mut exceptions_seen = Vec::new();
    for (name, text) in checked_files() {
        if name.ends_with("/tests.rs") {
            continue;
        }
        for (function, line, lines) in functions(&text) {
            if LONG_ON_PURPOSE.contains(&(name.as_str(), function.as_str())) {
                exceptions_seen.push((name.clone(), function));
                continue;
            }
            if lines > MAX_FN_LINES {
                long.push(format!("{name}:{line} {function}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
    for (file, function) in LONG_ON_PURPOSE {
        assert!(
            exceptions_seen
                .iter()
                .any(|(f, n)| f == file && n == function),
            "the exception {file} {function} names no function any more"
        );
    }
}

#[test]
fn the_measure_counts_a_function_to_its_closing_brace_past_braces_in_text() {
    let text = "pub async fn a() {\n    let s = \"{{\";\n    let c = '{';\n    // }\n    if x {\n    }\n}\nfn b<'a>(x: &'a str) {}\nfn c();\n#[cfg(test)]\nfn d() {}\n";
    let found = functions(text);
    assert_eq!(
        found,
        [
            ("a".to_owned(), 1, 7),
            ("b".to_owned(), 8, 1),
            ("c".to_owned(), 9, 1)
        ]
    );
}
