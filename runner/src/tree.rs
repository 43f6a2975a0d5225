//! A job's file names as the tree the runner will write: each API checks its
//! names here at its border, so that no two stand in each other's way once
//! written (the runner would fail with "File exists" or "Not a directory").

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Why a name cannot join the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The same path again (after normalisation: `./x` is `x`).
    Duplicate,
    /// A file is named where this path needs a directory (`a`, then `a/b`).
    UnderFile(String),
    /// This path is a directory of a file already given (`a/b`, then `a`).
    DirectoryOf(String),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Duplicate => write!(f, "names a file already given"),
            Conflict::UnderFile(file) => write!(f, "is under {file:?}, which is a file"),
            Conflict::DirectoryOf(file) => {
                write!(f, "is a directory of {file:?}, so it cannot be a file")
            }
        }
    }
}

/// File names in normal form (see [`crate::normalize_path`]), checked one
/// at a time as they are added.
#[derive(Debug, Default)]
pub struct FileTree {
    files: HashSet<String>,
    /// Every directory the files need, with one file under it.
    dirs: HashMap<String, String>,
}

impl FileTree {
    pub fn new() -> FileTree {
        FileTree::default()
    }

    /// Adds `name` (in normal form), or says why it cannot be written
    /// beside the names already added.
    pub fn insert(&mut self, name: &str) -> Result<(), Conflict> {
        if self.files.contains(name) {
            return Err(Conflict::Duplicate);
        }
        if let Some(file) = self.dirs.get(name) {
            return Err(Conflict::DirectoryOf(file.clone()));
        }
        let parents: Vec<&str> = name.match_indices('/').map(|(at, _)| &name[..at]).collect();
        if let Some(file) = parents.iter().find(|p| self.files.contains(**p)) {
            return Err(Conflict::UnderFile((*file).to_owned()));
        }
        for parent in parents {
            self.dirs
                .entry(parent.to_owned())
                .or_insert_with(|| name.to_owned());
        }
        self.files.insert(name.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_side_by_side_and_in_shared_directories_fit() {
        let mut tree = FileTree::new();
        for name in ["main.py", "a/b", "a/c", "a/d/e", "b"] {
            assert_eq!(tree.insert(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn a_name_again_a_file_under_a_file_and_a_file_over_a_directory_are_conflicts() {
        let mut tree = FileTree::new();
        tree.insert("source.py").unwrap();
        tree.insert("a/b/c").unwrap();
        assert_eq!(tree.insert("source.py"), Err(Conflict::Duplicate));
        assert_eq!(
            tree.insert("source.py/x"),
            Err(Conflict::UnderFile("source.py".into()))
        );
        assert_eq!(tree.insert("a"), Err(Conflict::DirectoryOf("a/b/c".into())));
        assert_eq!(
            tree.insert("a/b"),
            Err(Conflict::DirectoryOf("a/b/c".into()))
        );
        assert_eq!(
            tree.insert("a/b/c/d"),
            Err(Conflict::UnderFile("a/b/c".into()))
        );
        assert_eq!(
            Conflict::UnderFile("a".into()).to_string(),
            "is under \"a\", which is a file"
        );
    }
}
