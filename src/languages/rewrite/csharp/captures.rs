//! What the statements and local functions use: top-level variables a
//! function captures, `await`, a returned value, lambdas.

use std::collections::BTreeSet;

use super::code::{Code, Function, Item};
use crate::languages::rewrite::lex::{self, Kind};

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

impl<'s> Code<'s> {
    /// Names declared at the top level (`int n = …;`, `var s = …;`), which
    /// a local function could use.
    pub(super) fn top_level_variables(&self, items: &[Item]) -> BTreeSet<&'s str> {
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
    pub(super) fn declared_at(&self, i: usize) -> Option<usize> {
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
    pub(super) fn captured(&self, function: &Function, top: &BTreeSet<&str>) -> Option<&'s str> {
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
    pub(super) fn declared_at_before(&self, k: usize) -> bool {
        (k.saturating_sub(64)..k).any(|i| self.declared_at(i) == Some(k))
    }

    /// `return x;` (not `return;`) in the statements, outside lambdas.
    pub(super) fn returns_value(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| self.is(i, "return") && !self.is(i + 1, ";"))
    }

    /// `await` in the statements, outside lambdas.
    pub(super) fn awaits(&self, items: &[Item]) -> bool {
        self.in_statements(items, |i| {
            self.is(i, "await")
                || (self.tokens[i].kind == Kind::Literal
                    && hole_names(self.text(i)).contains(&"await"))
        })
    }

    /// Whether `found` holds for a token of the statements that is not in a
    /// lambda's or anonymous method's body.
    pub(super) fn in_statements(&self, items: &[Item], found: impl Fn(usize) -> bool) -> bool {
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

    pub(super) fn opens_lambda(&self, brace: usize) -> bool {
        let before = brace.wrapping_sub(1);
        self.is(before, "=>")
            || self.is(before, "delegate")
            || (self.is(before, ")")
                && self.partner[before].is_some_and(|o| self.is(o.wrapping_sub(1), "delegate")))
    }
}
