//! Reading Rust source as text, for the tests that hold the sources to a
//! rule (unit sizes, honest skips): what is code on a line, and where each
//! function starts and ends. Hand-written: a parser crate (syn) would cost
//! every test build for checks this small.

#![allow(dead_code)] // each test binary that includes it uses part of it
/// The line without what is inside strings, characters and a `//` comment.
pub fn code_only(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A character literal ('{', '\''), not a lifetime ('a).
            '\'' => {
                let rest: String = chars.clone().take(4).collect();
                let len = if rest.starts_with('\\') {
                    rest.find('\'').map(|i| i + 1)
                } else if rest.chars().nth(1) == Some('\'') {
                    Some(2)
                } else {
                    None
                };
                match len {
                    Some(len) => {
                        for _ in 0..len {
                            chars.next();
                        }
                    }
                    None => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
pub fn fn_name(code: &str) -> Option<&str> {
    let at = code.find("fn ")?;
    let before = code[..at].trim();
    let starts = before.is_empty()
        || before.split_whitespace().all(|w| {
            ["pub", "async", "const", "unsafe", "extern"].contains(&w) || w.starts_with("pub(")
        });
    if !starts {
        return None;
    }
    let name = code[at + 3..]
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then_some(name)
}

/// Each function outside test code: its name, first line and length.
pub fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<String> = text.lines().map(code_only).collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            break; // the test module runs to the end of the file
        }
        if let Some(name) = fn_name(&lines[i]) {
            let (mut depth, mut opened, mut end) = (0i64, false, i);
            for (j, line) in lines.iter().enumerate().skip(i) {
                depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
                opened |= line.contains('{');
                end = j;
                if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                    break;
                }
            }
            found.push((name.to_owned(), i + 1, end - i + 1));
        }
        i += 1;
    }
    found
}
