//! C# as a .NET 6+ console project compiles it, for a C# 7 compiler
//! (Mono's `mcs`, the only one reachable here):
//!
//! - the project's implicit `using`s (`System`, `System.IO`, `System.Linq`,
//!   …) the file does not already have;
//! - top-level statements (C# 9) turned into the `Main` a compiler would
//!   make of them: `using` directives stay first, type and namespace
//!   declarations stay outside, local functions (which `mcs` cannot parse)
//!   become static methods of `Program`, `args` is `Main`'s parameter,
//!   `await` makes it async, `return n;` makes it return `int`;
//! - `#line` directives throughout, so every message still names the line
//!   and column the user wrote.
//!
//! A local function that uses a top-level variable cannot be a static
//! method; it gets an `#error` naming the variable, on its own line.
//!
//! - [`words`]: the words of C# it knows.
//! - [`code`]: the tokens, their bracket partners and the pieces of a program.
//! - [`prefix`]: the `using` directives and where they end.
//! - [`items`]: the top level cut into pieces.
//! - [`captures`]: what statements and local functions use.
//! - [`emit`]: the rewritten text.

mod captures;
mod code;
mod emit;
mod items;
mod prefix;
mod words;

use super::lex;
use code::Code;
pub use words::IMPLICIT_USINGS;

/// The rewritten source, or `None` to leave it as it is (it does not
/// tokenize, or it needs nothing). C# 10's `global using` is taken as a
/// plain `using` (the same in a one-file program).
pub fn rewrite(source: &str) -> Option<String> {
    let code = Code::new(source, lex::tokens(source)?)?;
    let globals = code.global_usings(code.prefix_end());
    if globals.is_empty() {
        return code.rewrite();
    }
    // Spaces in place of each `global`: every byte offset stays.
    let mut blanked = source.to_owned();
    for (start, end) in globals {
        blanked.replace_range(start..end, &" ".repeat(end - start));
    }
    let code = Code::new(&blanked, lex::tokens(&blanked)?)?;
    Some(code.rewrite().unwrap_or_else(|| blanked.clone()))
}

#[cfg(test)]
mod tests;
