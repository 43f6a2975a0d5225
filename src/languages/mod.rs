//! The language map: one file (`langmap.toml`, embedded as the default) where
//! each language is one `[[language]]` entry: id, name, image, source file,
//! commands, packages, environment, limits and self-test programs. Adding a
//! language is adding an entry; no Rust changes.
//!
//! Commands are argv lists; nothing goes through a shell. Placeholders are
//! whole elements (so no file name is ever spliced into a script):
//! `{source}` is the entry file's name (steps run in the directory holding
//! it), `{sources}` it and the other source files, `{entry_stem}` its name
//! without directory and extension, `{args}` the tool's flags from the
//! request (zero or more elements), and `{program_args}` the program's own
//! arguments (appended to a run step that does not place them).
//!
//! - [`language`]: one language as the service runs it.
//! - [`api_names`]: its names and ids in Piston's and Judge0's APIs.
//! - [`judge0_ce`]: Judge0 CE 1.13.1's active languages, and those we lack.
//! - [`piston_index`]: Piston's package index, and the languages we lack.
//! - [`docs_table`]: the book's language table, generated from the map.
//! - [`recipe`]: an image's recipe.
//! - [`file`]: the file's schema and its validation.
//! - [`map`]: the map of languages and recipes, and its lookups.
//! - [`error`]: what can be wrong with a map, from the file to one command.
//! - [`rewrite`]: what a language's project build does to its sources.

pub mod api_names;
pub mod docs_table;
pub mod error;
pub mod file;
pub mod judge0_ce;
pub mod language;
pub mod map;
pub mod piston_index;
pub mod recipe;
pub mod rewrite;

pub use api_names::Judge0Ids;
pub use error::LanguageError;
pub use language::{is_env_name, Invocation, Language, LimitOverrides, SelfTest};
pub use map::{LanguageMap, BUILT_IN, DEFAULT_FILE};
pub use recipe::{Fetch, Recipe};
