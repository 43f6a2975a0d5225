//! The program's start: its `using` directives (and C# 10's `global`
//! ones), where they end, where the implicit ones go, and whether
//! conditional directives stay balanced around the pieces.

use std::collections::BTreeSet;

use super::code::{Code, Condition, Item};

/// `if` of `#if X`, `define` of `# define Y`.
fn directive_name(line: &str) -> &str {
    let rest = line.trim_start_matches('#').trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

impl<'s> Code<'s> {
    /// The byte range of each `global` of a `global using` (C# 10).
    pub(super) fn global_usings(&self, prefix_end: usize) -> Vec<(usize, usize)> {
        (0..prefix_end)
            .filter(|&i| self.is(i, "global") && self.is(i + 1, "using"))
            .map(|i| (self.tokens[i].start, self.tokens[i].end))
            .collect()
    }

    /// The first token after the `extern alias` and `using` directives and
    /// assembly attributes.
    pub(super) fn prefix_end(&self) -> usize {
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

    pub(super) fn prefix_end_unchecked(&self) -> usize {
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
    pub(super) fn insertion_point(&self, prefix_end: usize) -> usize {
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
    pub(super) fn condition(&self, i: usize) -> Option<Condition> {
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
    pub(super) fn conditions_balanced(&self, items: &[Item]) -> bool {
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
    pub(super) fn usings(&self, prefix_end: usize) -> BTreeSet<String> {
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
    pub(super) fn is_using_directive(&self, i: usize) -> bool {
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
}
