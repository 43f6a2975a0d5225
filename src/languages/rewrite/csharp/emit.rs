//! The rewritten text: the usings, the pieces in their places, `Main`
//! around the statements, and `#line` directives so every message names
//! the line and column the user wrote.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::code::{Code, Function, Item};
use super::words::{ASYNC_BODY, IMPLICIT_USINGS};

/// The largest char boundary of `s` at or before `i`.
fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'s> Code<'s> {
    /// The rewritten source, or `None` when it needs nothing.
    pub(super) fn rewrite(&self) -> Option<String> {
        let prefix_end = self.prefix_end();
        let items = self.items(prefix_end);
        let mut has_statements = items.iter().any(|item| match *item {
            Item::Declaration(..) => false,
            Item::Function(..) | Item::Constant(..) => true,
            // Only directives (`#region` between classes) or a stray `;`
            // are not statements.
            Item::Statements(first, last) => {
                (first..=last).any(|i| !self.is_directive(i) && !self.is(i, ";"))
            }
        });
        // An `#if` whose region crosses from statements into a moved piece
        // cannot be kept true to itself: such a file is left unrewritten
        // (the compiler then says what it cannot parse).
        if has_statements && !self.conditions_balanced(&items) {
            has_statements = false;
        }
        let present = self.usings(prefix_end);
        let missing: Vec<&str> = IMPLICIT_USINGS
            .into_iter()
            .filter(|name| !present.contains(*name))
            .collect();
        if missing.is_empty() && !has_statements {
            return None;
        }
        let mut out = String::with_capacity(self.src.len() * 2 + 512);
        // The using directives the file lacks, on a line of their own,
        // after a byte-order mark, `#define`s and `extern alias`es (which
        // must come first).
        let insert_at = self.insertion_point(prefix_end);
        out.push_str(&self.src[..insert_at]);
        if !missing.is_empty() {
            out.push('\n');
            for name in &missing {
                let _ = write!(out, "using {name}; ");
            }
        }
        if !has_statements {
            if missing.is_empty() {
                return None;
            }
            self.chunk(&mut out, insert_at, self.src.len());
            return Some(out);
        }
        let prefix_end_byte = self
            .tokens
            .get(prefix_end)
            .map_or(self.src.len(), |t| t.start);
        self.chunk(&mut out, insert_at, prefix_end_byte);
        self.program(&mut out, &items);
        Some(out)
    }

    /// Appends source bytes `from..to`, preceded by a `#line` naming where
    /// they are and padded to their column.
    pub(super) fn chunk(&self, out: &mut String, from: usize, to: usize) {
        let line = self.src[..from].matches('\n').count() + 1;
        self.chunk_at(out, from, to, line);
    }

    /// [`Code::chunk`] when the line of `from` is known. The padding is the
    /// line's own text before `from` with every character but a tab made a
    /// space (so a compiler counting tabs counts the same), unless that is
    /// longer than [`MAX_PAD`] (the column is then off, the line right).
    pub(super) fn chunk_at(&self, out: &mut String, from: usize, to: usize, line: usize) {
        /// The most padding one piece gets (no quadratic output from a
        /// long line of many pieces).
        const MAX_PAD: usize = 256;
        if from >= to {
            return;
        }
        let window = &self.src[floor_char(self.src, from.saturating_sub(4 * MAX_PAD))..from];
        let before = window.rsplit('\n').next().unwrap_or("");
        let pad: String = if before.len() < window.len() || from <= 4 * MAX_PAD {
            before
                .chars()
                .take(MAX_PAD + 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect()
        } else {
            String::new()
        };
        let pad = if pad.chars().count() > MAX_PAD {
            ""
        } else {
            pad.as_str()
        };
        let _ = write!(out, "\n#line {line}\n{pad}");
        out.push_str(&self.src[from..to]);
        out.push('\n');
    }

    pub(super) fn tokens_chunk(&self, out: &mut String, first: usize, last: usize) {
        let token = &self.tokens[first];
        self.chunk_at(out, token.start, self.tokens[last].end, token.line);
    }

    /// `partial class Program` with `Main` (or its async body), the local
    /// functions as static methods, then the declarations.
    pub(super) fn program(&self, out: &mut String, items: &[Item]) {
        let returns = self.returns_value(items);
        let awaits = self.awaits(items);
        let top = self.top_level_variables(items);
        out.push_str("\n#line hidden\npartial class Program\n{\n");
        main_header(out, returns, awaits);
        for item in items {
            if let Item::Statements(first, last) = *item {
                self.tokens_chunk(out, first, last);
            }
        }
        out.push_str("#line hidden\n");
        if returns {
            out.push_str("#pragma warning disable 162\nreturn 0;\n#pragma warning restore 162\n");
        }
        out.push_str("}\n");
        if awaits {
            out.push_str("#pragma warning restore 1998\n");
        }
        for item in items {
            if let Item::Constant(first, last) = *item {
                self.tokens_chunk(out, first, last);
                out.push_str("#line hidden\n");
            }
        }
        for item in items {
            if let Item::Function(function) = item {
                self.hoisted(out, function, &top);
            }
        }
        out.push_str("}\n");
        for item in items {
            if let Item::Declaration(first, last) = *item {
                self.tokens_chunk(out, first, last);
            }
        }
        out.push_str("#line default\n");
    }

    /// A local function as a static method of `Program`, or with an
    /// `#error` when it uses a top-level variable it cannot see as one.
    fn hoisted(&self, out: &mut String, function: &Function, top: &BTreeSet<&str>) {
        let first = &self.tokens[function.first];
        if !function.is_static {
            if let Some(name) = self.captured(function, top) {
                // mcs reports an `#error` one line below the number
                // `#line` gives it; the others on the line it gives.
                let _ = write!(
                    out,
                    "#line {}\n#error local function `{}` uses the top-level variable `{name}`, which C# 9 would let it capture; the C# compiler here (C# 7, Mono's mcs) has no local functions, so whipcode makes top-level ones static methods, which cannot: pass `{name}` as an argument\n",
                    first.line.saturating_sub(1).max(1),
                    self.text(function.name),
                );
            }
        }
        // Attribute sections first, then `static`, then the rest.
        let mut j = function.first;
        while self.is(j, "[") {
            j = self.partner[j].map_or(j + 1, |c| c + 1);
        }
        if j > function.first {
            self.tokens_chunk(out, function.first, j - 1);
        }
        if !function.is_static {
            out.push_str("static ");
        }
        self.tokens_chunk(out, j, function.last);
        out.push_str("#line hidden\n");
    }
}

/// `Main`'s opening: returning `int` or nothing, and (when the statements
/// await) calling an async body of the same statements.
fn main_header(out: &mut String, returns: bool, awaits: bool) {
    let ret = if returns { "int" } else { "void" };
    if !awaits {
        let _ = write!(out, "static {ret} Main(string[] args)\n{{");
        return;
    }
    let task = if returns {
        "global::System.Threading.Tasks.Task<int>"
    } else {
        "global::System.Threading.Tasks.Task"
    };
    let give = if returns { "return " } else { "" };
    // An `await` only in an async lambda's body makes this async
    // with nothing to await: not worth a warning.
    let _ = write!(
        out,
        "static {ret} Main(string[] args) {{ {give}{ASYNC_BODY}(args).GetAwaiter().GetResult(); }}\n\
         #pragma warning disable 1998\n\
         static async {task} {ASYNC_BODY}(string[] args)\n{{"
    );
}
