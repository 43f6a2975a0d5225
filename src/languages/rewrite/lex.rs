//! A C# tokenizer just deep enough to find statement and declaration
//! boundaries: comments are skipped, string and character literals
//! (regular, verbatim, interpolated with nested holes, raw) are single
//! tokens, preprocessor lines are single tokens. Hand-written because no
//! maintained Rust crate parses C#, and the rewrite needs only this much.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ident,
    /// A number, string or character literal.
    Literal,
    /// One operator or punctuator (`=>`, `::` and a few others are one).
    Punct,
    /// A whole preprocessor line (`#if X`, `#region`, …).
    Directive,
}

/// One token: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    /// 1-based line of its first byte.
    pub line: usize,
    /// 0-based column (in characters) of its first byte.
    pub col: usize,
}

impl Token {
    pub fn text<'s>(&self, source: &'s str) -> &'s str {
        &source[self.start..self.end]
    }
}

const TWO_CHAR: [&str; 12] = [
    "=>", "::", "==", "!=", "<=", "&&", "||", "++", "--", "??", "?.", "->",
];

/// How deeply interpolated strings may nest in each other's holes (past
/// it, the source is left as it is: no recursion without a bound).
const MAX_NESTING: usize = 16;

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    at: usize,
    line: usize,
    line_start: usize,
    /// Only whitespace since the line began (a `#` there is a directive).
    line_blank: bool,
    /// The column counted so far on this line, and the byte it is for:
    /// columns are counted once, not from the line's start each token.
    col_byte: usize,
    col: usize,
}

/// The tokens of `source`, or `None` when a literal or comment never ends.
pub fn tokens(source: &str) -> Option<Vec<Token>> {
    let mut lexer = Lexer {
        src: source,
        bytes: source.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
        line_blank: true,
        col_byte: 0,
        col: 0,
    };
    let mut out = Vec::new();
    while let Some(token) = lexer.next()? {
        out.push(token);
    }
    Some(out)
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    fn bump(&mut self) {
        let Some(&byte) = self.bytes.get(self.at) else {
            return;
        };
        if byte == b'\n' {
            self.line += 1;
            self.line_start = self.at + 1;
            self.line_blank = true;
        }
        self.at += 1;
    }

    /// Advances over one character (all its bytes).
    fn bump_char(&mut self) {
        let len = self.src[self.at..].chars().next().map_or(1, char::len_utf8);
        for _ in 0..len {
            self.bump();
        }
    }

    /// `Some(None)` at the end; `None` on an unterminated literal.
    fn next(&mut self) -> Option<Option<Token>> {
        loop {
            let Some(c) = self.peek(0) else {
                return Some(None);
            };
            match c {
                b'\n' => self.bump(),
                _ if c.is_ascii_whitespace() => self.at += 1,
                // Unicode spaces and a byte-order mark are whitespace too.
                _ if !c.is_ascii()
                    && self.src[self.at..]
                        .chars()
                        .next()
                        .is_some_and(|ch| ch.is_whitespace() || ch == '\u{feff}') =>
                {
                    self.bump_char()
                }
                b'/' if self.peek(1) == Some(b'/') => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.at += 1;
                    }
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.at += 2;
                    loop {
                        match self.peek(0)? {
                            b'*' if self.peek(1) == Some(b'/') => {
                                self.at += 2;
                                break;
                            }
                            _ => self.bump(),
                        }
                    }
                }
                _ => break,
            }
        }
        let (start, line) = (self.at, self.line);
        if self.col_byte < self.line_start {
            (self.col_byte, self.col) = (self.line_start, 0);
        }
        self.col += self.src[self.col_byte..start].chars().count();
        self.col_byte = start;
        let col = self.col;
        let directive = self.line_blank && self.peek(0) == Some(b'#');
        self.line_blank = false;
        let kind = if directive {
            while self.peek(0).is_some_and(|c| c != b'\n') {
                self.at += 1;
            }
            Kind::Directive
        } else {
            self.token()?
        };
        Some(Some(Token {
            kind,
            start,
            end: self.at,
            line,
            col,
        }))
    }

    fn token(&mut self) -> Option<Kind> {
        let c = self.peek(0)?;
        let rest = &self.src[self.at..];
        if let Some(prefix) = string_prefix(rest) {
            self.string(prefix, 0)?;
            return Some(Kind::Literal);
        }
        if c == b'\'' {
            self.at += 1;
            loop {
                match self.peek(0)? {
                    b'\\' => {
                        self.at += 1;
                        self.bump_char();
                    }
                    b'\'' => {
                        self.at += 1;
                        return Some(Kind::Literal);
                    }
                    b'\n' => return None,
                    _ => self.bump_char(),
                }
            }
        }
        if c.is_ascii_digit() || (c == b'.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) {
            while let Some(d) = self.peek(0) {
                let exponent_sign = (d == b'+' || d == b'-')
                    && matches!(self.bytes[self.at - 1], b'e' | b'E')
                    && !self.src[..self.at].ends_with("0x");
                if d.is_ascii_alphanumeric()
                    || d == b'_'
                    || exponent_sign
                    || (d == b'.' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
                {
                    self.at += 1;
                } else {
                    break;
                }
            }
            return Some(Kind::Literal);
        }
        if is_ident_start(rest) {
            if c == b'@' {
                self.at += 1;
            }
            while self.at < self.bytes.len() && is_ident_part(&self.src[self.at..]) {
                self.bump_char();
            }
            return Some(Kind::Ident);
        }
        if TWO_CHAR.iter().any(|p| rest.starts_with(p)) {
            self.at += 2;
        } else {
            self.bump_char();
        }
        Some(Kind::Punct)
    }

    /// A string literal whose prefix (`"`, `@"`, `$"`, `$@"`, `@$"`, or a
    /// raw `"""`) starts here.
    fn string(&mut self, prefix: &str, depth: usize) -> Option<()> {
        if depth > MAX_NESTING {
            return None;
        }
        let interpolated = prefix.contains('$');
        let verbatim = prefix.contains('@');
        if prefix.ends_with("\"\"\"") {
            // A raw string: it ends at as many quotes as it began with.
            self.at += prefix.len();
            let mut quotes = 3;
            while self.peek(0) == Some(b'"') {
                quotes += 1;
                self.at += 1;
            }
            let close = "\"".repeat(quotes);
            loop {
                if self.src[self.at..].starts_with(&close) {
                    self.at += quotes;
                    return Some(());
                }
                self.peek(0)?;
                self.bump_char();
            }
        }
        self.at += prefix.len();
        loop {
            match self.peek(0)? {
                b'"' if verbatim && self.peek(1) == Some(b'"') => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' if !verbatim => {
                    self.at += 1;
                    self.bump_char();
                }
                b'{' if interpolated && self.peek(1) == Some(b'{') => self.at += 2,
                b'{' if interpolated => {
                    self.at += 1;
                    self.hole(depth)?;
                }
                b'\n' if !verbatim => return None,
                _ => self.bump_char(),
            }
        }
    }

    /// An interpolation hole, up to its closing `}`: code, which may hold
    /// strings and braces of its own.
    fn hole(&mut self, nesting: usize) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let rest = &self.src[self.at..];
            if let Some(prefix) = string_prefix(rest) {
                self.string(prefix, nesting + 1)?;
                continue;
            }
            if self.peek(0)? == b'\'' {
                // A character literal, which may be a brace or a quote.
                self.at += 1;
                if self.peek(0)? == b'\\' {
                    self.at += 1;
                }
                self.bump_char();
                while self.peek(0)? != b'\'' {
                    self.bump_char();
                }
                self.at += 1;
                continue;
            }
            match self.peek(0)? {
                b'{' => depth += 1,
                b'}' if depth == 0 => {
                    self.at += 1;
                    return Some(());
                }
                b'}' => depth -= 1,
                _ => {}
            }
            self.bump_char();
        }
    }
}

/// The prefix of a string literal starting `rest`, if one does.
fn string_prefix(rest: &str) -> Option<&'static str> {
    const PREFIXES: [&str; 7] = ["$@\"", "@$\"", "$\"\"\"", "\"\"\"", "$\"", "@\"", "\""];
    PREFIXES.into_iter().find(|p| rest.starts_with(p))
}

fn is_ident_start(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some('@') => chars.next().is_some_and(|c| c.is_alphabetic() || c == '_'),
        Some(c) => c.is_alphabetic() || c == '_',
        None => false,
    }
}

fn is_ident_part(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<&str> {
        tokens(source)
            .unwrap()
            .iter()
            .map(|t| t.text(source))
            .collect()
    }

    #[test]
    fn comments_are_skipped_and_literals_are_single_tokens() {
        let src = "x /* a { */ = \"b { // \\\" \" + @\"c \"\" }\" + 'd' + '\\''; // e {\n";
        assert_eq!(
            texts(src),
            [
                "x",
                "=",
                "\"b { // \\\" \"",
                "+",
                "@\"c \"\" }\"",
                "+",
                "'d'",
                "+",
                "'\\''",
                ";"
            ]
        );
    }

    #[test]
    fn interpolation_holes_may_hold_strings_and_braces() {
        let src = "$\"{a} {{x}} {f(\"}\")} {new[] { 1 }[0]}\";";
        assert_eq!(texts(src), [&src[..src.len() - 1], ";"]);
        assert_eq!(texts("\"\"\"a \" b\"\"\" ;"), ["\"\"\"a \" b\"\"\"", ";"]);
    }

    #[test]
    fn a_hash_starting_a_line_is_a_directive_and_lines_are_counted() {
        let src = "a\n  #if X // y\nb ==c\n#endif";
        let tokens = tokens(src).unwrap();
        let shown: Vec<_> = tokens
            .iter()
            .map(|t| (t.text(src), t.kind, t.line, t.col))
            .collect();
        assert_eq!(
            shown,
            [
                ("a", Kind::Ident, 1, 0),
                ("#if X // y", Kind::Directive, 2, 2),
                ("b", Kind::Ident, 3, 0),
                ("==", Kind::Punct, 3, 2),
                ("c", Kind::Ident, 3, 4),
                ("#endif", Kind::Directive, 4, 0),
            ]
        );
    }

    #[test]
    fn numbers_and_identifiers() {
        assert_eq!(
            texts("1.5e-3f+0x1F @class é_1 x.y"),
            ["1.5e-3f", "+", "0x1F", "@class", "é_1", "x", ".", "y"]
        );
    }

    #[test]
    fn character_literals_in_holes_and_unicode_spaces() {
        let src = "\u{feff}$\"{(c == '\"' ? 1 : 0)} {'{'}\";\u{a0}x";
        assert_eq!(texts(src), [&src[3..src.len() - 4], ";", "x"]);
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed_into() {
        let deep = "$\"{".repeat(40_000);
        assert!(tokens(&deep).is_none());
    }

    #[test]
    fn an_unterminated_literal_is_no_tokens() {
        assert!(tokens("\"abc\n").is_none());
        assert!(tokens("/* abc").is_none());
        assert!(tokens("$\"{a\"").is_none());
    }
}
