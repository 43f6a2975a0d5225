//! The book's language table (`docs/src/languages.md`) is the map's: the
//! section between its marker comments is what
//! `whipcode::languages::docs_table` renders from the built-in map. With
//! `WHIPCODE_UPDATE_DOCS=1` (what `./task docs-table` sets) the test writes
//! the rendering into the page instead of comparing. Plain file reading: no
//! podman, no mdbook.

use std::path::PathBuf;

use whipcode::languages::{docs_table, LanguageMap};

const UPDATE: &str = "WHIPCODE_UPDATE_DOCS";

fn page() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/src/languages.md")
}

/// A line as a message shows it: an empty one named.
fn shown(line: &str) -> &str {
    if line.is_empty() {
        "(an empty line)"
    } else {
        line
    }
}

/// The first line where `found` differs from `expected`, both shown.
fn first_difference(found: &str, expected: &str) -> String {
    let mut found_lines = found.lines();
    for (n, want) in expected.lines().enumerate() {
        let have = found_lines.next();
        if have != Some(want) {
            let have = have.map_or("(nothing: the section ends)", shown);
            let want = shown(want);
            return format!(
                "line {} of the section is\n  {have}\nand should be\n  {want}",
                n + 1
            );
        }
    }
    "the section has more lines than the rendering".to_owned()
}

#[test]
fn the_docs_language_table_is_the_maps() {
    let path = page();
    let text = std::fs::read_to_string(&path).unwrap();
    let section = docs_table::section(&LanguageMap::load(None).unwrap());
    let updated = docs_table::replace_section(&text, &section).unwrap_or_else(|| {
        panic!(
            "{} has no generated section (from a line `{}` to a line `{}`)",
            path.display(),
            docs_table::BEGIN,
            docs_table::END
        )
    });
    if std::env::var_os(UPDATE).is_some_and(|v| v == "1") {
        if updated != text {
            std::fs::write(&path, &updated).unwrap();
        }
        return;
    }
    if updated != text {
        let start = text.find(docs_table::BEGIN).unwrap();
        panic!(
            "the language table of {} is not the map's; {}\n\
             run `./task docs-table` (or `{UPDATE}=1 cargo test --test docs_language_table`) \
             to write it from langmap.toml",
            path.display(),
            first_difference(&text[start..], &section)
        );
    }
}
