//! Source rewrites a language's entry in the map may name (`rewrite`):
//! what a language's usual project build does to a source file that its
//! bare compiler here does not, applied to each of its source files before
//! they reach the sandbox.
//!
//! - [`csharp`]: a .NET console project's implicit usings and C# 9's
//!   top-level statements, for C# 7's `mcs`.
//! - `escript-header`: the empty first line Judge0 gives an escript.
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
    /// escript skips a script's first line, meant for `#!`: a script that
    /// starts with its code gets an empty first line, as Judge0 gives every
    /// Erlang program, so no line of it is lost.
    EscriptHeader,
}

impl Rewrite {
    /// The rewritten file, or `None` to send it as it is (it needs
    /// nothing, or is not text this rewrite understands).
    pub fn apply(self, content: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(content).ok()?;
        match self {
            Rewrite::CsharpProject => csharp::rewrite(text).map(String::into_bytes),
            Rewrite::EscriptHeader => escript_header(text),
        }
    }
}

fn escript_header(text: &str) -> Option<Vec<u8>> {
    (!text.starts_with("#!")).then(|| format!("\n{text}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::Rewrite;

    #[test]
    fn an_escript_without_a_hash_bang_line_gets_an_empty_first_line() {
        let judge0s = "main(_) ->\n    io:format(\"hello~n\").\n";
        let rewritten = Rewrite::EscriptHeader.apply(judge0s.as_bytes()).unwrap();
        assert_eq!(rewritten, format!("\n{judge0s}").into_bytes());
        let with_line = "#!/usr/bin/env escript\nmain(_) -> ok.\n";
        assert_eq!(Rewrite::EscriptHeader.apply(with_line.as_bytes()), None);
    }
}
