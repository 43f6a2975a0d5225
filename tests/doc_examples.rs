//! The documented examples run: every code block tagged `sh,run` in
//! `README.md` and `docs/src/**/*.md` is run by bash against a live whipcode
//! (real podman, the core images), with `WHIPCODE` set to its base URL and
//! `KEY` to its master key, and must exit 0; a line `# => TEXT` in a block
//! says what the block's output (stdout and stderr together) must contain.
//! The convention is described in the book's Development chapter.

mod book;
mod common;

use std::process::Command;

use book::{documents, root};
use common::Service;

/// The least number of runnable examples: the README's three, and one in
/// each chapter of whipcode's, Piston's and Judge0's APIs.
const AT_LEAST: usize = 6;

/// What one example may take, compiling included.
const EXAMPLE_TIMEOUT_SECONDS: &str = "120";

/// A `sh,run` block: where it is, its script and the texts its output must
/// contain.
struct Example {
    place: String,
    script: String,
    expected: Vec<String>,
}

/// The `sh,run` blocks of a Markdown text (fenced with backticks or tildes,
/// indented or not, closed by a fence of the same kind at least as long).
fn examples_in(doc: &str, text: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut open: Option<(char, usize, bool, usize, Vec<&str>)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let mark = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = mark.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (&mut open, mark) {
            (None, Some(c)) if run >= 3 => {
                let runnable = trimmed[run..].trim() == "sh,run";
                open = Some((c, run, runnable, number + 1, Vec::new()));
            }
            (Some((c, n, _, _, _)), Some(m))
                if m == *c && run >= *n && trimmed[run..].trim().is_empty() =>
            {
                let (_, _, runnable, start, lines) = open.take().unwrap();
                if runnable {
                    found.push(example(format!("{doc}:{start}"), &lines));
                }
            }
            (Some((_, _, _, _, lines)), _) => lines.push(line),
            _ => {}
        }
    }
    found
}

fn example(place: String, lines: &[&str]) -> Example {
    let expected = lines
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix("# =>"))
        .map(|e| e.trim().to_owned())
        .collect();
    Example {
        place,
        script: lines.join("\n"),
        expected,
    }
}

fn all_examples() -> Vec<Example> {
    documents()
        .iter()
        .flat_map(|doc| {
            let text = std::fs::read_to_string(root().join(doc)).unwrap();
            examples_in(&doc.display().to_string(), &text)
        })
        .collect()
}

/// Runs one example against the service at `url`; what went wrong, if anything.
fn failure_of(example: &Example, url: &str) -> Option<String> {
    let out = Command::new("timeout")
        .arg(EXAMPLE_TIMEOUT_SECONDS)
        .args(["bash", "-euo", "pipefail", "-c", &example.script])
        .env("WHIPCODE", url)
        .env("KEY", common::KEY)
        .output()
        .expect("bash");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let missing: Vec<&String> = example
        .expected
        .iter()
        .filter(|e| !output.contains(e.as_str()))
        .collect();
    if out.status.success() && missing.is_empty() {
        return None;
    }
    Some(format!(
        "{}: {} (expected {:?}, missing {missing:?}); output:\n{output}",
        example.place, out.status, example.expected
    ))
}

#[ignore = "needs podman and the core images"]
#[test]
fn every_runnable_example_of_the_readme_and_the_book_succeeds_against_a_live_service() {
    let _podman = common::podman_test();
    let examples = all_examples();
    let svc = Service::start(&[]);
    let failures: Vec<String> = examples
        .iter()
        .filter_map(|e| failure_of(e, &svc.url))
        .collect();
    // Past the harness's capture: the count shows in every run's log.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "ran {} documented examples",
        examples.len()
    );
    svc.stop_and_check_clean();
    assert!(
        failures.is_empty(),
        "{} of {} documented examples failed:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
    assert!(
        examples.len() >= AT_LEAST,
        "only {} runnable examples",
        examples.len()
    );
}

#[test]
fn the_readme_and_each_api_chapter_have_runnable_examples_that_say_what_they_print() {
    let examples = all_examples();
    let count = |doc: &str| {
        examples
            .iter()
            .filter(|e| e.place.starts_with(&format!("{doc}:")))
            .count()
    };
    assert!(count("README.md") >= 3, "the README's three API examples");
    for chapter in ["whipcode", "piston", "judge0"] {
        let doc = format!("docs/src/api/{chapter}.md");
        assert!(count(&doc) >= 1, "no runnable example in {doc}");
    }
    assert!(examples.len() >= AT_LEAST);
    let silent: Vec<&str> = examples
        .iter()
        .filter(|e| e.expected.is_empty())
        .map(|e| e.place.as_str())
        .collect();
    assert!(
        silent.is_empty(),
        "runnable examples without a `# =>` line (curl -s exits 0 on a refusal too): {silent:?}"
    );
    let other_variables: Vec<&str> = examples
        .iter()
        .filter(|e| e.script.contains("$MASTER_KEY") || e.script.contains("$ENDPOINT"))
        .map(|e| e.place.as_str())
        .collect();
    assert!(
        other_variables.is_empty(),
        "runnable examples use $WHIPCODE and $KEY only: {other_variables:?}"
    );
}

#[test]
fn the_example_reader_finds_tagged_blocks_only_with_their_expectations() {
    let text = "\
```sh
echo not run
```

  ```sh,run
  echo a
  # => a
  ```

````markdown
```sh,run
echo inside another block
```
````
";
    let found = examples_in("x.md", text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].place, "x.md:5");
    assert_eq!(found[0].script, "  echo a\n  # => a");
    assert_eq!(found[0].expected, ["a"]);
}
