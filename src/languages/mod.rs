//! The language map: one file (`langmap.toml`, embedded as the default) where
//! each language is one `[[language]]` entry: id, name, image, source file,
//! commands, packages, environment, limits and self-test programs. Adding a
//! language is adding an entry; no Rust changes.
//!
//! Commands are argv lists. `{source}` is replaced by the source file name
//! (steps run in the directory holding it); `{args}`, a whole element, expands
//! to the request's args, zero or more elements. Nothing goes through a shell.

//!
//! - [`language`]: one language as the service runs it.
//! - [`recipe`]: an image's recipe.
//! - [`file`]: the file's schema and its validation.
//! - [`map`]: the map of languages and recipes, and its lookups.

pub mod file;
pub mod language;
pub mod map;
pub mod recipe;

pub use language::{is_env_name, Language, LimitOverrides, SelfTest};
pub use map::{LanguageError, LanguageMap, BUILT_IN, DEFAULT_FILE};
pub use recipe::{Fetch, Recipe};
