//! The Python test tools (`tests/tools/requirements.txt`, in the venv
//! `./task test` makes at `target/test-tools`): the Prometheus project's
//! parser for `/metrics`, and the OpenAPI validator.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// The venv's Python, or a failure naming what is missing.
pub fn python() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/bin/python3");
    if !path.is_file() {
        super::missing("the test tools are not installed in target/test-tools")
    }
    path
}

/// Runs `tests/tools/<script> <args>` with `input` on stdin; its stdout, or
/// a panic with its stderr when it fails.
pub async fn run(python: &PathBuf, script: &str, args: &[&str], input: &[u8]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tools")
        .join(script);
    let mut child = tokio::process::Command::new(python)
        .arg(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// One sample of a parsed scrape.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

/// A scrape parsed by Prometheus' own parser (`openmetrics`: the
/// OpenMetrics one, which is strict).
pub async fn parse_metrics(python: &PathBuf, text: &str, openmetrics: bool) -> Vec<Sample> {
    let format = if openmetrics {
        "openmetrics"
    } else {
        "prometheus"
    };
    run(python, "parse_metrics.py", &[format], text.as_bytes())
        .await
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Sample {
                name: v["name"].as_str().unwrap().to_owned(),
                labels: v["labels"].as_object().cloned().unwrap_or_default(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`, summed
/// over the rest; 0 when there is none.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}
