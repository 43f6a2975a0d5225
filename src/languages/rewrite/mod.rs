//! Source rewrites a language's entry in the map may name (`rewrite`):
//! what a language's usual project build does to a source file that its
//! bare compiler here does not, applied to each of its source files before
//! they reach the sandbox.
//!
//! - [`csharp`]: a .NET console project's implicit usings and C# 9's
//!   top-level statements, for C# 7's `mcs`.
//! - [`lex`]: the C# tokenizer it stands on.

pub mod csharp;
mod lex;

use serde::Deserialize;

/// A rewrite the language map can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rewrite {
    /// C# as a .NET 6+ console project compiles it.
    CsharpProject,
}

impl Rewrite {
    /// The rewritten file, or `None` to send it as it is (it needs
    /// nothing, or is not text this rewrite understands).
    pub fn apply(self, content: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(content).ok()?;
        match self {
            Rewrite::CsharpProject => csharp::rewrite(text).map(String::into_bytes),
        }
    }
}
