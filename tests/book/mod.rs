//! The documentation's files, for the tests that read them (links,
//! runnable examples).
#![allow(dead_code)] // each test binary that includes it uses part of it

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every Markdown file of the book's source, as paths from
/// the repository's root.
pub fn documents() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    let mut docs = vec![PathBuf::from("README.md")];
    walk(&root().join("docs/src"), &mut docs);
    docs.sort();
    docs
}
