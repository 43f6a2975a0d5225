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

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::lex::{self, Kind, Token};

/// What a .NET 6+ console project imports implicitly (`ImplicitUsings`).
pub const IMPLICIT_USINGS: [&str; 7] = [
    "System",
    "System.Collections.Generic",
    "System.IO",
    "System.Linq",
    "System.Net.Http",
    "System.Threading",
    "System.Threading.Tasks",
];

const KEYWORDS: [&str; 71] = [
    "abstract",
    "as",
    "base",
    "break",
    "case",
    "catch",
    "checked",
    "class",
    "const",
    "continue",
    "default",
    "delegate",
    "do",
    "else",
    "enum",
    "event",
    "explicit",
    "extern",
    "false",
    "finally",
    "fixed",
    "for",
    "foreach",
    "goto",
    "if",
    "implicit",
    "in",
    "interface",
    "internal",
    "is",
    "lock",
    "namespace",
    "new",
    "null",
    "operator",
    "out",
    "override",
    "params",
    "private",
    "protected",
    "public",
    "readonly",
    "ref",
    "return",
    "sizeof",
    "stackalloc",
    "static",
    "struct",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "unchecked",
    "unsafe",
    "using",
    "virtual",
    "volatile",
    "while",
    "await",
    "yield",
    "var",
    "when",
    "where",
    "select",
    "from",
    "let",
    "orderby",
    "group",
    "into",
];

const BUILTIN_TYPES: [&str; 17] = [
    "bool", "byte", "sbyte", "char", "decimal", "double", "float", "int", "uint", "long", "ulong",
    "short", "ushort", "object", "string", "void", "dynamic",
];

const TYPE_KEYWORDS: [&str; 7] = [
    "class",
    "struct",
    "interface",
    "enum",
    "record",
    "delegate",
    "namespace",
];

const TYPE_MODIFIERS: [&str; 14] = [
    "public",
    "private",
    "protected",
    "internal",
    "static",
    "abstract",
    "sealed",
    "partial",
    "unsafe",
    "readonly",
    "ref",
    "new",
    "file",
    "extern",
];

const FUNCTION_MODIFIERS: [&str; 4] = ["static", "async", "unsafe", "extern"];

/// The name of the method holding the statements when `Main` must be
/// synchronous (`mcs` refuses an async `Main`).
const ASYNC_BODY: &str = "TopLevelStatementsAsync";

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

/// One top-level piece after the using directives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Tokens `first..=last` that belong in `Main`.
    Statements(usize, usize),
    /// A local function, made a static method.
    Function(Function),
    /// A type or namespace declaration, kept outside `Main`.
    Declaration(usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Function {
    first: usize,
    last: usize,
    name: usize,
    is_static: bool,
    /// The parameter list's parentheses.
    params: (usize, usize),
}

struct Code<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    /// For each bracket token, the index of its partner.
    partner: Vec<Option<usize>>,
}

impl<'s> Code<'s> {
    /// `None` when the brackets do not balance (the compiler will say why).
    fn new(src: &'s str, tokens: Vec<Token>) -> Option<Code<'s>> {
        let mut partner = vec![None; tokens.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            if token.kind != Kind::Punct {
                continue;
            }
            match token.text(src) {
                "(" | "[" | "{" => open.push(i),
                close @ (")" | "]" | "}") => {
                    let o = open.pop()?;
                    let expected = match close {
                        ")" => "(",
                        "]" => "[",
                        _ => "{",
                    };
                    if tokens[o].text(src) != expected {
                        return None;
                    }
                    partner[o] = Some(i);
                    partner[i] = Some(o);
                }
                _ => {}
            }
        }
        if !open.is_empty() {
            return None;
        }
        Some(Code {
            src,
            tokens,
            partner,
        })
    }

    fn text(&self, i: usize) -> &'s str {
        self.tokens.get(i).map_or("", |t| t.text(self.src))
    }

    fn is(&self, i: usize, text: &str) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind != Kind::Literal) && self.text(i) == text
    }

    fn is_ident(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind == Kind::Ident)
    }

    /// An identifier that can name a variable, function or type.
    fn is_name(&self, i: usize) -> bool {
        self.is_ident(i)
            && !KEYWORDS.contains(&self.text(i))
            && !BUILTIN_TYPES.contains(&self.text(i))
    }

    fn is_directive(&self, i: usize) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Directive)
    }

    /// The rewritten source, or `None` when it needs nothing.
    fn rewrite(&self) -> Option<String> {
        let prefix_end = self.prefix_end();
        let items = self.items(prefix_end);
        let has_statements = items.iter().any(|item| match *item {
            Item::Declaration(..) => false,
            Item::Function(..) => true,
            // Only directives (`#region` between classes) or a stray `;`
            // are not statements.
            Item::Statements(first, last) => {
                (first..=last).any(|i| !self.is_directive(i) && !self.is(i, ";"))
            }
        });
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
        // after any `extern alias` (which must come first).
        let insert_at = self.extern_aliases_end(prefix_end);
        out.push_str(&self.src[..insert_at]);
        if !missing.is_empty() {
            out.push('\n');
            for name in &missing {
                let _ = write!(out, "using {name}; ");
            }
        }
        if !has_statements {
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

    /// The byte range of each `global` of a `global using` (C# 10).
    fn global_usings(&self, prefix_end: usize) -> Vec<(usize, usize)> {
        (0..prefix_end)
            .filter(|&i| self.is(i, "global") && self.is(i + 1, "using"))
            .map(|i| (self.tokens[i].start, self.tokens[i].end))
            .collect()
    }

    /// The first token after the `extern alias` and `using` directives and
    /// assembly attributes.
    fn prefix_end(&self) -> usize {
        let mut i = 0;
        loop {
            if self.is_directive(i) {
                i += 1;
            } else if self.is(i, "extern") && self.is(i + 1, "alias") {
                i = self.after(i, ";");
            } else if self.is(i, "global") && self.is(i + 1, "using") {
                i += 1;
            } else if self.is(i, "using") && self.is_using_directive(i) {
                i = self.after(i, ";");
            } else if self.is(i, "[")
                && (self.is(i + 1, "assembly") || self.is(i + 1, "module"))
                && self.is(i + 2, ":")
            {
                i = self.partner[i].map_or(self.tokens.len(), |c| c + 1);
            } else {
                return i;
            }
        }
    }

    /// Where the implicit usings go: after the `extern alias` directives.
    fn extern_aliases_end(&self, prefix_end: usize) -> usize {
        let mut i = 0;
        let mut byte = 0;
        while i < prefix_end {
            if self.is(i, "extern") && self.is(i + 1, "alias") {
                i = self.after(i, ";");
                byte = self.tokens[i - 1].end;
            } else {
                i += 1;
            }
        }
        byte
    }

    /// The namespaces the file's own using directives import.
    fn usings(&self, prefix_end: usize) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut i = 0;
        while i < prefix_end {
            if self.is(i, "using") && !self.is(i + 1, "static") && !self.is(i + 2, "=") {
                let end = self.after(i, ";") - 1;
                let name: String = (i + 1..end).map(|j| self.text(j)).collect();
                found.insert(name.trim_start_matches("global::").to_owned());
                i = end;
            }
            i += 1;
        }
        found
    }

    /// `using N.N;`, `using static N.N;` or `using A = N.N;`, not a
    /// `using (…)` or `using var x = …;` statement.
    fn is_using_directive(&self, i: usize) -> bool {
        let mut j = i + 1;
        if self.is(j, "static") {
            j += 1;
        } else if self.is_ident(j) && self.is(j + 1, "=") {
            return true;
        }
        match self.qualified_name(j) {
            Some(end) => self.is(end, ";"),
            None => false,
        }
    }

    /// The token after the first `text` at bracket depth 0 from `i`.
    fn after(&self, i: usize, text: &str) -> usize {
        let mut j = i;
        while j < self.tokens.len() {
            if self.is(j, text) {
                return j + 1;
            }
            j = self.skip(j);
        }
        self.tokens.len()
    }

    /// The token after `i`, jumping over a bracketed group `i` opens.
    fn skip(&self, i: usize) -> usize {
        match (self.text(i), self.partner[i]) {
            ("(" | "[" | "{", Some(close)) => close + 1,
            _ => i + 1,
        }
    }

    /// `a.b::c<…>`: the token after it.
    fn qualified_name(&self, i: usize) -> Option<usize> {
        if !self.is_ident(i) {
            return None;
        }
        let mut j = i + 1;
        loop {
            if (self.is(j, ".") || self.is(j, "::")) && self.is_ident(j + 1) {
                j += 2;
            } else if self.is(j, "<") {
                j = self.type_arguments(j)?;
            } else {
                return Some(j);
            }
        }
    }

    /// `<…>` of a generic name: the token after its `>`, if it is one.
    fn type_arguments(&self, i: usize) -> Option<usize> {
        let mut depth = 0;
        let mut j = i;
        while j < self.tokens.len() {
            match self.text(j) {
                "<" => depth += 1,
                ">" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                "." | "," | "?" | "::" | "[" | "]" | "(" | ")" | "*" => {}
                _ if self.is_ident(j) => {}
                _ => return None,
            }
            j += 1;
        }
        None
    }

    /// A type (`int`, `List<int>[]`, `(int, string)`, `Foo?`): the token
    /// after it.
    fn type_end(&self, i: usize) -> Option<usize> {
        let mut j = if self.is(i, "(") {
            let close = self.partner[i]?;
            // A tuple type has a comma and only names and types inside.
            if !(i + 1..close).any(|k| self.is(k, ",")) {
                return None;
            }
            close + 1
        } else if BUILTIN_TYPES.contains(&self.text(i)) && self.is_ident(i) {
            i + 1
        } else if self.is_name(i) {
            self.qualified_name(i)?
        } else {
            return None;
        };
        loop {
            if self.is(j, "?") || self.is(j, "*") {
                j += 1;
            } else if self.is(j, "[")
                && self.partner[j].is_some_and(|c| (j + 1..c).all(|k| self.is(k, ",")))
            {
                j = self.partner[j]? + 1;
            } else {
                return Some(j);
            }
        }
    }

    /// The top-level pieces from `start`.
    fn items(&self, start: usize) -> Vec<Item> {
        let mut items = Vec::new();
        let mut run: Option<(usize, usize)> = None;
        let mut i = start;
        let mut boundary = true;
        while i < self.tokens.len() {
            if boundary {
                let found = self
                    .declaration(i)
                    .map(|last| Item::Declaration(i, last))
                    .or_else(|| self.function(i).map(Item::Function));
                if let Some(item) = found {
                    if let Some((first, last)) = run.take() {
                        items.push(Item::Statements(first, last));
                    }
                    i = match &item {
                        Item::Declaration(_, last) => last + 1,
                        Item::Function(f) => f.last + 1,
                        Item::Statements(..) => unreachable!(),
                    };
                    items.push(item);
                    continue;
                }
            }
            let next = self.skip(i);
            let last = next - 1;
            run = Some(run.map_or((i, last), |(first, _)| (first, last)));
            boundary = self.is(last, ";") || self.is(last, "}") || self.is_directive(last);
            i = next;
        }
        if let Some((first, last)) = run {
            items.push(Item::Statements(first, last));
        }
        items
    }

    /// A type or namespace declaration starting at `i`: its last token.
    fn declaration(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while self.is(j, "[") {
            j = self.partner[j]? + 1;
        }
        while TYPE_MODIFIERS.contains(&self.text(j)) && self.is_ident(j) {
            j += 1;
        }
        let keyword = self.text(j);
        if !TYPE_KEYWORDS.contains(&keyword) || !self.is_ident(j) {
            return None;
        }
        if keyword == "record" && !(self.is_name(j + 1) || self.is(j + 1, "struct")) {
            return None;
        }
        let mut k = j + 1;
        while k < self.tokens.len() {
            if self.is(k, ";") {
                // `namespace N;` (C# 10) holds the rest of the file.
                return Some(if keyword == "namespace" {
                    self.tokens.len() - 1
                } else {
                    k
                });
            }
            if self.is(k, "{") {
                let close = self.partner[k]?;
                return Some(if self.is(close + 1, ";") {
                    close + 1
                } else {
                    close
                });
            }
            k = self.skip(k);
        }
        None
    }

    /// A local function starting at `i`.
    fn function(&self, i: usize) -> Option<Function> {
        let mut j = i;
        while self.is(j, "[") {
            j = self.partner[j]? + 1;
        }
        let mut is_static = false;
        while FUNCTION_MODIFIERS.contains(&self.text(j)) && self.is_ident(j) {
            is_static |= self.is(j, "static");
            j += 1;
        }
        if self.is(j, "ref") {
            j += 1;
            if self.is(j, "readonly") {
                j += 1;
            }
        }
        let name = self.type_end(j)?;
        if !self.is_name(name) {
            return None;
        }
        let mut open = name + 1;
        if self.is(open, "<") {
            open = self.type_arguments(open)?;
        }
        if !self.is(open, "(") {
            return None;
        }
        let close = self.partner[open]?;
        let mut k = close + 1;
        while self.is(k, "where") {
            while k < self.tokens.len() && !self.is(k, "{") && !self.is(k, "=>") {
                k = self.skip(k);
            }
        }
        let last = if self.is(k, "{") {
            self.partner[k]?
        } else if self.is(k, "=>") {
            self.after(k, ";") - 1
        } else {
            return None;
        };
        Some(Function {
            first: i,
            last,
            name,
            is_static,
            params: (open, close),
        })
    }

    /// Names declared at the top level (`int n = …;`, `var s = …;`), which
    /// a local function could use.
    fn top_level_variables(&self, items: &[Item]) -> BTreeSet<&'s str> {
        let mut names = BTreeSet::from(["args"]);
        for item in items {
            let Item::Statements(first, last) = item else {
                continue;
            };
            let mut i = *first;
            let mut boundary = true;
            while i <= *last {
                if boundary {
                    if let Some(name) = self.declared_at(i) {
                        names.insert(self.text(name));
                    }
                }
                let next = self.skip(i);
                boundary = self.is(next - 1, ";") || self.is(next - 1, "}");
                i = next;
            }
        }
        names
    }

    /// `Type name =`, `Type name;` or `Type name,` at `i`: the name's token.
    fn declared_at(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while self.is(j, "const") || self.is(j, "using") {
            j += 1;
        }
        let name = if self.is(j, "var") {
            j + 1
        } else {
            self.type_end(j)?
        };
        (self.is_name(name)
            && ["=", ";", ",", ")", "in"]
                .iter()
                .any(|t| self.is(name + 1, t)))
        .then_some(name)
    }

    /// A top-level variable `function` uses: it is not its parameter, not
    /// declared in it, not a member access.
    fn captured(&self, function: &Function, top: &BTreeSet<&str>) -> Option<&'s str> {
        let (open, close) = function.params;
        let mut own = BTreeSet::new();
        // A lambda's parameters: `(a, b) => …`.
        for k in open..=function.last {
            if let (true, Some(c)) = (self.is(k, "("), self.partner[k]) {
                if self.is(c + 1, "=>") {
                    own.extend((k..c).filter(|&n| self.is_name(n)).map(|n| self.text(n)));
                }
            }
        }
        for k in open..=function.last {
            let in_params = k < close;
            if self.is_name(k)
                && (if in_params {
                    [",", ")", "="].iter().any(|t| self.is(k + 1, t))
                } else {
                    (k > 0 && self.declared_at_before(k)) || self.is(k + 1, "=>")
                })
            {
                own.insert(self.text(k));
            }
        }
        (close + 1..=function.last)
            .filter(|&k| self.is_name(k))
            .filter(|&k| !(self.is(k - 1, ".") || self.is(k - 1, "::") || self.is(k - 1, "->")))
            .map(|k| self.text(k))
            .find(|name| top.contains(name) && !own.contains(name))
    }

    /// Whether the name at `k` is declared there (a type precedes it and
    /// `=`, `;`, `,`, `)` or `in` follows).
    fn declared_at_before(&self, k: usize) -> bool {
        (k.saturating_sub(8)..k).any(|i| self.declared_at(i) == Some(k))
    }

    /// `return x;` (not `return;`) in the statements, outside lambdas.
    fn returns_value(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| self.is(i, "return") && !self.is(i + 1, ";"))
    }

    /// `await` in the statements, outside lambdas.
    fn awaits(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| self.is(i, "await"))
    }

    /// Whether `found` holds for a token of the statements that is not in a
    /// lambda's or anonymous method's body.
    fn in_statements(&self, items: &[Item], found: impl Fn(usize) -> bool) -> bool {
        items.iter().any(|item| {
            let Item::Statements(first, last) = *item else {
                return false;
            };
            let mut i = first;
            while i <= last {
                if self.is(i, "{") && self.opens_lambda(i) {
                    i = self.partner[i].map_or(last + 1, |c| c + 1);
                    continue;
                }
                if found(i) {
                    return true;
                }
                i += 1;
            }
            false
        })
    }

    fn opens_lambda(&self, brace: usize) -> bool {
        let before = brace.wrapping_sub(1);
        self.is(before, "=>")
            || self.is(before, "delegate")
            || (self.is(before, ")")
                && self.partner[before].is_some_and(|o| self.is(o.wrapping_sub(1), "delegate")))
    }

    /// Appends source bytes `from..to`, preceded by a `#line` naming where
    /// they are and padded to their column.
    fn chunk(&self, out: &mut String, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let line = self.src[..from].matches('\n').count() + 1;
        let col = self.src[..from]
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.chars().count());
        let _ = write!(out, "\n#line {line}\n{}", " ".repeat(col));
        out.push_str(&self.src[from..to]);
        out.push('\n');
    }

    fn tokens_chunk(&self, out: &mut String, first: usize, last: usize) {
        self.chunk(out, self.tokens[first].start, self.tokens[last].end);
    }

    /// `partial class Program` with `Main` (or its async body), the local
    /// functions as static methods, then the declarations.
    fn program(&self, out: &mut String, items: &[Item]) {
        let returns = self.returns_value(items);
        let awaits = self.awaits(items);
        let top = self.top_level_variables(items);
        let ret = if returns { "int" } else { "void" };
        out.push_str("\n#line hidden\npartial class Program\n{\n");
        if awaits {
            let task = if returns {
                "global::System.Threading.Tasks.Task<int>"
            } else {
                "global::System.Threading.Tasks.Task"
            };
            let give = if returns { "return " } else { "" };
            let _ = write!(
                out,
                "static {ret} Main(string[] args) {{ {give}{ASYNC_BODY}(args).GetAwaiter().GetResult(); }}\n\
                 static async {task} {ASYNC_BODY}(string[] args)\n{{"
            );
        } else {
            let _ = write!(out, "static {ret} Main(string[] args)\n{{");
        }
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
        for item in items {
            let Item::Function(function) = item else {
                continue;
            };
            let first = &self.tokens[function.first];
            if !function.is_static {
                if let Some(name) = self.captured(function, &top) {
                    // mcs reports an `#error` one line below the number
                    // `#line` gives it; the others on the line it gives.
                    let _ = write!(
                        out,
                        "#line {}\n#error local function `{}` uses the top-level variable `{name}`, which C# 9 would let it capture; the C# compiler here (C# 7, Mono's mcs) has no local functions, so whipcode makes top-level ones static methods, which cannot: pass `{name}` as an argument\n",
                        first.line.saturating_sub(1).max(1),
                        self.text(function.name),
                    );
                }
                out.push_str("static ");
            }
            self.tokens_chunk(out, function.first, function.last);
            out.push_str("#line hidden\n");
        }
        out.push_str("}\n");
        for item in items {
            if let Item::Declaration(first, last) = *item {
                self.tokens_chunk(out, first, last);
            }
        }
        out.push_str("#line default\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(source: &str) -> Vec<String> {
        let code = Code::new(source, lex::tokens(source).unwrap()).unwrap();
        let start = code.prefix_end();
        let span = |first: usize, last: usize| {
            source[code.tokens[first].start..code.tokens[last].end].to_owned()
        };
        code.items(start)
            .into_iter()
            .map(|item| match item {
                Item::Statements(f, l) => format!("S: {}", span(f, l)),
                Item::Function(f) => format!("F: {}", span(f.first, f.last)),
                Item::Declaration(f, l) => format!("D: {}", span(f, l)),
            })
            .collect()
    }

    #[test]
    fn statements_functions_and_declarations_are_told_apart() {
        let src = "using System;\nusing static System.Math;\nusing L = System.Collections.Generic.List<int>;\n\
                   var x = Add(1, 2);\nif (x > 2) { Console.WriteLine(x); } else Console.WriteLine(0);\n\
                   int Add(int a, int b) => a + b;\nstatic async Task<int> Later() { await Task.Delay(1); return 1; }\n\
                   (int, string) Pair() { return (1, \"a\"); }\nT Id<T>(T t) where T : class { return t; }\n\
                   Action a = () => { };\nnew Foo().Bar();\nrecord = 3;\n\
                   [Serializable] public class Foo { public void Bar() { } }\nrecord R(int X);\nnamespace N { class M { } }\n";
        assert_eq!(
            items(src),
            [
                "S: var x = Add(1, 2);\nif (x > 2) { Console.WriteLine(x); } else Console.WriteLine(0);",
                "F: int Add(int a, int b) => a + b;",
                "F: static async Task<int> Later() { await Task.Delay(1); return 1; }",
                "F: (int, string) Pair() { return (1, \"a\"); }",
                "F: T Id<T>(T t) where T : class { return t; }",
                "S: Action a = () => { };\nnew Foo().Bar();\nrecord = 3;",
                "D: [Serializable] public class Foo { public void Bar() { } }",
                "D: record R(int X);",
                "D: namespace N { class M { } }",
            ]
        );
    }

    #[test]
    fn a_program_without_top_level_statements_only_gains_the_missing_usings() {
        let src = "using System;\nclass P { static void Main() { Console.WriteLine(1); } }\n";
        let out = rewrite(src).unwrap();
        assert!(!out.contains("Main(string[] args)"), "{out}");
        assert!(out.contains("using System.Linq;") && !out.contains("using System; "));
        assert!(out.contains("#line 1\nusing System;\nclass P"), "{out}");
        let all: String = IMPLICIT_USINGS
            .iter()
            .map(|u| format!("using {u};\n"))
            .collect();
        assert_eq!(
            rewrite(&format!("{all}class P {{ }}")),
            None,
            "nothing to do"
        );
    }

    #[test]
    fn any_prefix_of_a_program_is_rewritten_or_left_without_a_panic() {
        let src = "using System;\nvar s = $\"{1} é {{x}}\";\n/* c */ int F<T>(T t) where T : class => 1;\n\
                   await Task.Delay(1); return 2;\n#if X\nclass C { string v = @\"a\"\"b\"; char c = '\\''; }\n#endif\n";
        for (end, _) in src.char_indices() {
            let _ = rewrite(&src[..end]);
        }
        assert!(rewrite(src).is_some());
    }

    #[test]
    fn directives_between_declarations_are_not_statements() {
        let src = "using System;\n#region Types\nclass Program { static void Main() { } };\n#endregion\n;\n";
        let out = rewrite(src).unwrap();
        assert!(!out.contains("Main(string[] args)"), "{out}");
        assert!(out.ends_with("#line 1\nusing System;\n#region Types\nclass Program { static void Main() { } };\n#endregion\n;\n\n"), "{out}");
    }

    #[test]
    fn top_level_statements_become_main_with_their_own_line_numbers() {
        let src = "Console.WriteLine(args.Length);\n  int n = Twice(2);\nint Twice(int x) => x * 2;\nclass C { }\n";
        let out = rewrite(src).unwrap();
        assert!(out.contains("static void Main(string[] args)\n{\n#line 1\nConsole.WriteLine(args.Length);\n  int n = Twice(2);\n"), "{out}");
        assert!(
            out.contains("static \n#line 3\nint Twice(int x) => x * 2;"),
            "{out}"
        );
        assert!(out.contains("#line 4\nclass C { }"), "{out}");
        assert!(!out.contains("#error"), "{out}");
    }

    #[test]
    fn await_makes_main_async_and_a_returned_value_makes_it_int() {
        let out = rewrite("await Task.Delay(1);\nreturn 3;\n").unwrap();
        assert!(out.contains("static int Main(string[] args) { return TopLevelStatementsAsync(args).GetAwaiter().GetResult(); }"), "{out}");
        assert!(out.contains(
            "static async global::System.Threading.Tasks.Task<int> TopLevelStatementsAsync"
        ));
        let out = rewrite("Func<Task> f = async () => { await Task.Delay(1); return; };\nf();\n")
            .unwrap();
        assert!(out.contains("static void Main(string[] args)\n{"), "{out}");
    }

    #[test]
    fn a_local_function_using_a_top_level_variable_gets_a_clear_error() {
        let out = rewrite("int count = 0;\nvoid Bump() { count++; }\nBump();\n").unwrap();
        assert!(
            out.contains(
                "#line 1\n#error local function `Bump` uses the top-level variable `count`"
            ),
            "{out}"
        );
        let out = rewrite("int count = 0;\nvoid Bump(int count) { count++; }\nint Own() { int count = 1; return count; }\n").unwrap();
        assert!(!out.contains("#error"), "{out}");
        let out = rewrite("void Show() { Console.WriteLine(args[0]); }\nShow();\n").unwrap();
        assert!(out.contains("top-level variable `args`"), "{out}");
    }

    #[test]
    fn global_usings_are_plain_usings() {
        let out = rewrite("global using System.Text;\nConsole.WriteLine(new StringBuilder());\n")
            .unwrap();
        assert!(out.contains("#line 1\n       using System.Text;"), "{out}");
        assert!(out.contains("#line 2\nConsole.WriteLine"), "{out}");
    }
}
