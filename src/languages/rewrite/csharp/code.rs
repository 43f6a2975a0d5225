//! The tokens of one C# source with their bracket partners, the questions
//! every phase asks of them, and the pieces a program is cut into.

use super::words::{BUILTIN_TYPES, KEYWORDS};
use crate::languages::rewrite::lex::{Kind, Token};

/// One top-level piece after the using directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
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

/// A local function: its tokens, its name's, and whether it is `static`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Function {
    pub(super) first: usize,
    pub(super) last: usize,
    pub(super) name: usize,
    pub(super) is_static: bool,
    /// The parameter list's parentheses.
    pub(super) params: (usize, usize),
}

/// Where a conditional directive stands in its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Condition {
    Open,
    Middle,
    Close,
}

/// One source's tokens, with each bracket's partner.
pub(super) struct Code<'s> {
    pub(super) src: &'s str,
    pub(super) tokens: Vec<Token>,
    /// For each bracket token, the index of its partner.
    pub(super) partner: Vec<Option<usize>>,
}

impl<'s> Code<'s> {
    /// `None` when the brackets do not balance (the compiler will say why).
    pub(super) fn new(src: &'s str, tokens: Vec<Token>) -> Option<Code<'s>> {
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

    pub(super) fn text(&self, i: usize) -> &'s str {
        self.tokens.get(i).map_or("", |t| t.text(self.src))
    }

    pub(super) fn is(&self, i: usize, text: &str) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind != Kind::Literal) && self.text(i) == text
    }

    pub(super) fn is_ident(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind == Kind::Ident)
    }

    /// An identifier that can name a variable, function or type.
    pub(super) fn is_name(&self, i: usize) -> bool {
        self.is_ident(i)
            && !KEYWORDS.contains(&self.text(i))
            && !BUILTIN_TYPES.contains(&self.text(i))
    }

    pub(super) fn is_directive(&self, i: usize) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Directive)
    }

    /// The token after the first `text` at bracket depth 0 from `i`.
    pub(super) fn after(&self, i: usize, text: &str) -> usize {
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
    pub(super) fn skip(&self, i: usize) -> usize {
        match (self.text(i), self.partner[i]) {
            ("(" | "[" | "{", Some(close)) => close + 1,
            _ => i + 1,
        }
    }
}
