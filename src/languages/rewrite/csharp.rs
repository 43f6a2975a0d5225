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
    /// A top-level `const`, made a constant of `Program` (so hoisted
    /// functions see it as the local functions would).
    Constant(usize, usize),
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

/// Where a conditional directive stands in its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Open,
    Middle,
    Close,
}

/// `if` of `#if X`, `define` of `# define Y`.
fn directive_name(line: &str) -> &str {
    let rest = line.trim_start_matches('#').trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The names used in an interpolated string's holes: `$"{a} {b.c}"` uses
/// `a` and `b` (a member after `.` is not a name of its own).
fn hole_names(literal: &str) -> Vec<&str> {
    if !(literal.starts_with('$') || literal.starts_with("@$")) {
        return Vec::new();
    }
    let bytes = literal.as_bytes();
    let mut names = Vec::new();
    let mut i = literal.find('"').map_or(bytes.len(), |q| q + 1);
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            i += 2;
            continue;
        }
        let start = i + 1;
        let mut depth = 0usize;
        let mut j = start;
        while j < bytes.len() {
            match bytes[j] {
                b'{' => depth += 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        let hole = &literal[start..j];
        if let Some(tokens) = lex::tokens(hole) {
            for (n, token) in tokens.iter().enumerate() {
                let member = n > 0 && matches!(tokens[n - 1].text(hole), "." | "?." | "::" | "->");
                if token.kind == Kind::Ident && !member {
                    names.push(token.text(hole));
                }
            }
        }
        i = j + 1;
    }
    names
}

/// The largest char boundary of `s` at or before `i`.
fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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
        let end = self.prefix_end_unchecked();
        // An `#if` still open where the prefix ends belongs to the body.
        let mut open = Vec::new();
        for i in 0..end {
            match self.condition(i) {
                Some(Condition::Open) => open.push(i),
                Some(Condition::Close) => {
                    open.pop();
                }
                _ => {}
            }
        }
        open.first().copied().unwrap_or(end)
    }

    fn prefix_end_unchecked(&self) -> usize {
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

    /// Where the implicit usings go: after a byte-order mark, the leading
    /// `#define`s and `#undef`s and the `extern alias` directives.
    fn insertion_point(&self, prefix_end: usize) -> usize {
        let mut byte = if self.src.starts_with('\u{feff}') {
            3
        } else {
            0
        };
        let mut i = 0;
        while i < prefix_end {
            let directive = self.is_directive(i).then(|| directive_name(self.text(i)));
            if matches!(directive, Some("define" | "undef")) {
                byte = self.tokens[i].end;
                i += 1;
            } else if self.is(i, "extern") && self.is(i + 1, "alias") {
                i = self.after(i, ";");
                byte = self.tokens[i - 1].end;
            } else if directive.is_some() {
                i += 1;
            } else {
                break;
            }
        }
        byte
    }

    /// Whether token `i` opens, continues or closes a conditional region.
    fn condition(&self, i: usize) -> Option<Condition> {
        if !self.is_directive(i) {
            return None;
        }
        match directive_name(self.text(i)) {
            "if" => Some(Condition::Open),
            "elif" | "else" => Some(Condition::Middle),
            "endif" => Some(Condition::Close),
            _ => None,
        }
    }

    /// Whether each run of statements holds whole `#if … #endif` regions
    /// (the pieces moved out of `Main` hold theirs whole, being whole).
    fn conditions_balanced(&self, items: &[Item]) -> bool {
        items.iter().all(|item| {
            let Item::Statements(first, last) = *item else {
                return true;
            };
            let mut depth = 0usize;
            for i in first..=last {
                match self.condition(i) {
                    Some(Condition::Open) => depth += 1,
                    Some(Condition::Middle) if depth == 0 => return false,
                    Some(Condition::Close) if depth == 0 => return false,
                    Some(Condition::Close) => depth -= 1,
                    _ => {}
                }
            }
            depth == 0
        })
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
        /// Past this many tokens a `<` is taken for a comparison.
        const LOOKAHEAD: usize = 64;
        let mut depth = 0;
        let mut j = i;
        while j < self.tokens.len().min(i + LOOKAHEAD) {
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
                    .or_else(|| self.function(i).map(Item::Function))
                    .or_else(|| {
                        self.is(i, "const")
                            .then(|| Item::Constant(i, self.after(i, ";") - 1))
                    });
                if let Some(item) = found {
                    if let Some((first, last)) = run.take() {
                        items.push(Item::Statements(first, last));
                    }
                    i = match &item {
                        Item::Declaration(_, last) | Item::Constant(_, last) => last + 1,
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
            let mut declaring = false;
            while i <= *last {
                if boundary {
                    declaring = false;
                    if let Some(name) = self.declared_at(i) {
                        names.insert(self.text(name));
                        declaring = true;
                    }
                }
                // `int a = 1, b = 2;`: the later declarators.
                if declaring
                    && self.is(i, ",")
                    && self.is_name(i + 1)
                    && ["=", ",", ";"].iter().any(|t| self.is(i + 2, t))
                {
                    names.insert(self.text(i + 1));
                }
                let next = self.skip(i);
                boundary = self.is(next - 1, ";") || self.is(next - 1, "}");
                i = next;
            }
            // `out var n`, `out int n`, `x is Foo n` anywhere in them.
            for k in *first..=*last {
                if self.is(k, "out") || self.is(k, "is") {
                    let name = if self.is(k + 1, "var") {
                        Some(k + 2)
                    } else {
                        self.type_end(k + 1)
                    };
                    if let Some(name) = name.filter(|&n| n <= *last && self.is_name(n)) {
                        names.insert(self.text(name));
                    }
                }
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
        let member = |k: usize| [".", "::", "->", "?."].iter().any(|t| self.is(k - 1, t));
        // `f(name: 1)` and `new { name = 1 }` name no variable.
        let label = |k: usize| {
            (self.is(k - 1, "(") || self.is(k - 1, ",")) && self.is(k + 1, ":")
                || (self.is(k - 1, "{") || self.is(k - 1, ",")) && self.is(k + 1, "=")
        };
        let used = (close + 1..=function.last)
            .filter(|&k| self.is_name(k) && !member(k) && !label(k))
            .map(|k| self.text(k));
        let in_holes = (close + 1..=function.last)
            .filter(|&k| self.tokens[k].kind == Kind::Literal)
            .flat_map(|k| hole_names(self.text(k)));
        used.chain(in_holes)
            .find(|name| top.contains(name) && !own.contains(name))
    }

    /// Whether the name at `k` is declared there (a type precedes it and
    /// `=`, `;`, `,`, `)` or `in` follows).
    fn declared_at_before(&self, k: usize) -> bool {
        (k.saturating_sub(64)..k).any(|i| self.declared_at(i) == Some(k))
    }

    /// `return x;` (not `return;`) in the statements, outside lambdas.
    fn returns_value(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| self.is(i, "return") && !self.is(i + 1, ";"))
    }

    /// `await` in the statements, outside lambdas.
    fn awaits(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| {
            self.is(i, "await")
                || (self.tokens[i].kind == Kind::Literal
                    && hole_names(self.text(i)).contains(&"await"))
        })
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
        let line = self.src[..from].matches('\n').count() + 1;
        self.chunk_at(out, from, to, line);
    }

    /// [`Code::chunk`] when the line of `from` is known. The padding is the
    /// line's own text before `from` with every character but a tab made a
    /// space (so a compiler counting tabs counts the same), unless that is
    /// longer than [`MAX_PAD`] (the column is then off, the line right).
    fn chunk_at(&self, out: &mut String, from: usize, to: usize, line: usize) {
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

    fn tokens_chunk(&self, out: &mut String, first: usize, last: usize) {
        let token = &self.tokens[first];
        self.chunk_at(out, token.start, self.tokens[last].end, token.line);
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
            // An `await` only in an async lambda's body makes this async
            // with nothing to await: not worth a warning.
            let _ = write!(
                out,
                "static {ret} Main(string[] args) {{ {give}{ASYNC_BODY}(args).GetAwaiter().GetResult(); }}\n\
                 #pragma warning disable 1998\n\
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
                Item::Constant(f, l) => format!("C: {}", span(f, l)),
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
    fn a_byte_order_mark_unicode_spaces_and_defines_leave_a_classic_program_classic() {
        let classic = "class Program { static void Main() { } }\u{a0}\n";
        for src in [
            format!("\u{feff}using System;\n{classic}"),
            format!("#define TRACE\n#undef X\nusing System;\n{classic}"),
        ] {
            let out = rewrite(&src).unwrap();
            assert!(!out.contains("Main(string[] args)"), "{out}");
            if src.starts_with('\u{feff}') {
                assert!(
                    out.starts_with("\u{feff}\nusing System.Collections.Generic;"),
                    "{out:?}"
                );
            } else {
                assert!(
                    out.starts_with("#define TRACE\n#undef X\nusing System.Collections"),
                    "{out}"
                );
            }
        }
    }

    #[test]
    fn conditional_regions_stay_whole() {
        // An `#if` opening the statements belongs to them, not the prefix.
        let out = rewrite(
            "using System;\n#if DEBUG\nConsole.WriteLine(1);\n#endif\nConsole.WriteLine(2);\n",
        )
        .unwrap();
        let main = out.find("Main(string[] args)").unwrap();
        assert!(out.find("#if DEBUG").unwrap() > main, "{out}");
        // One that spans statements and a moved declaration: left unrewritten.
        let spanning =
            "Console.WriteLine(1);\n#if X\nclass A { }\n#else\nclass A { int b; }\n#endif\n";
        let out = rewrite(spanning).unwrap();
        assert!(!out.contains("Main(string[] args)"), "{out}");
    }

    #[test]
    fn what_local_functions_use_is_found_in_every_form() {
        let uses = |src: &str| rewrite(src).unwrap().contains("#error");
        // Real uses of top-level variables.
        assert!(uses(
            "var name = \"a\";\nvoid Greet() => Console.WriteLine($\"Hello {name}\");\nGreet();\n"
        ));
        assert!(uses(
            "int.TryParse(\"1\", out var n);\nint Twice() => n * 2;\n"
        ));
        assert!(uses("object o = 1;\nif (o is int k) { }\nint K() => k;\n"));
        assert!(uses("int a = 1, b = 2;\nint B() => b;\n"));
        // Not uses: a named argument, an initializer, a member, a shadowing
        // declaration with a long type, a constant (hoisted with them).
        assert!(!uses(
            "int count = 0;\nvoid F(int count) { }\nvoid G() => F(count: 1);\n"
        ));
        assert!(!uses("int name = 0;\nobject H() => new { name = 1 };\n"));
        assert!(!uses("string name = \"\";\nint L(System.Type p) => p?.Name.Length ?? 0;\nint M(Foo p) => p?.name ?? 0;\n"));
        assert!(!uses("int counts = 0;\nvoid N() { System.Collections.Generic.Dictionary<string, System.Collections.Generic.List<int>> counts = null; }\n"));
        let out = rewrite(
            "const int N = 3;\nint[] Make() => new int[N];\nConsole.WriteLine(Make().Length);\n",
        )
        .unwrap();
        assert!(!out.contains("#error"), "{out}");
        let class = out.find("partial class Program").unwrap();
        let main_end = out.find("static \n").unwrap();
        let constant = out.find("const int N = 3;").unwrap();
        assert!(
            class < constant && constant < main_end,
            "the constant is Program's: {out}"
        );
    }

    #[test]
    fn await_in_an_interpolation_and_attributes_on_a_local_function() {
        let out = rewrite("Console.WriteLine($\"{await Task.FromResult(1)}\");\n").unwrap();
        assert!(out.contains("TopLevelStatementsAsync"), "{out}");
        let out = rewrite("[Obsolete] int F() => 1;\nConsole.WriteLine(2);\n").unwrap();
        assert!(
            out.contains("[Obsolete]\nstatic \n#line 1\n           int F()"),
            "{out}"
        );
    }

    #[test]
    fn tabs_pad_as_tabs_and_long_lines_do_not_blow_up() {
        let out = rewrite("\tConsole.WriteLine(1);\n").unwrap();
        assert!(out.contains("#line 1\n\tConsole.WriteLine(1);"), "{out}");
        let src = format!("x();{}", " class A { }".repeat(2000));
        let out = rewrite(&src).unwrap_or_default();
        assert!(
            out.len() < 4 * src.len() + 4096,
            "{} bytes from {}",
            out.len(),
            src.len()
        );
    }

    #[test]
    fn global_usings_are_plain_usings() {
        let out = rewrite("global using System.Text;\nConsole.WriteLine(new StringBuilder());\n")
            .unwrap();
        assert!(out.contains("#line 1\n       using System.Text;"), "{out}");
        assert!(out.contains("#line 2\nConsole.WriteLine"), "{out}");
    }
}
