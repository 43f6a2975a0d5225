//! The top level cut into pieces: statements, local functions, type and
//! namespace declarations, constants; with the names and types they use.

use super::code::{Code, Function, Item};
use super::words::{BUILTIN_TYPES, FUNCTION_MODIFIERS, TYPE_KEYWORDS, TYPE_MODIFIERS};

impl<'s> Code<'s> {
    /// `a.b::c<…>`: the token after it.
    pub(super) fn qualified_name(&self, i: usize) -> Option<usize> {
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
    pub(super) fn type_arguments(&self, i: usize) -> Option<usize> {
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
    pub(super) fn type_end(&self, i: usize) -> Option<usize> {
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
    pub(super) fn items(&self, start: usize) -> Vec<Item> {
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
    pub(super) fn declaration(&self, i: usize) -> Option<usize> {
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
    pub(super) fn function(&self, i: usize) -> Option<Function> {
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
}
