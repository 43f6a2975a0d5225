//! The links of the README and the book resolve: every relative link of
//! `README.md` and `docs/src/**/*.md` names a file or directory that exists,
//! and every `#anchor` matches a heading of the chapter it points into, by
//! mdBook's rule for heading ids. Plain file reading: no podman, no mdbook.
//!
//! Links are read from the Markdown as written: inline `[text](target)` (and
//! images), and reference definitions `[name]: target`, outside fenced code
//! blocks and code spans. Links with a scheme (`https://…`, `mailto:`) are
//! not checked here.

mod book;

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use book::{documents, root};

/// The text with every fenced code block and code span blanked out (each
/// byte a space, newlines kept), so offsets and line numbers still match.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let mark = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = mark.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        let blank = match (fence, mark) {
            (None, Some(c)) if run >= 3 => {
                fence = Some((c, run));
                true
            }
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None;
                true
            }
            (Some(_), _) => true,
            _ => false,
        };
        if blank {
            out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    blank_code_spans(&out)
}

/// Blanks out code spans: a run of backticks up to the next run of the same
/// length (across lines, as in a paragraph); an unclosed run stays as text.
fn blank_code_spans(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let run_at = |i: usize| bytes[i..].iter().take_while(|b| **b == b'`').count();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let close = loop {
            match bytes[j..].iter().position(|b| *b == b'`') {
                None => break None,
                Some(k) if run_at(j + k) == n => break Some(j + k),
                Some(k) => j += k + run_at(j + k),
            }
        };
        match close {
            Some(c) => {
                for b in &mut out[i..c + n] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = c + n;
            }
            None => i += n,
        }
    }
    String::from_utf8(out).unwrap()
}

/// A link as written: its target and the line it is on.
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// The links of a Markdown text: inline ones (`](target)`, an optional
/// title after a space) and reference definitions (`[name]: target`).
fn links(text: &str) -> Vec<Link> {
    let text = prose(text);
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in text.match_indices("](") {
        let rest = &text[at + 2..];
        let end = rest.find([')', ' ', '\n']).unwrap_or(rest.len());
        let target = rest[..end].trim_matches(['<', '>']);
        found.push(Link {
            line: line_of(at),
            target: target.to_owned(),
        });
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some((name, rest)) = trimmed.split_once("]:") {
            if name.starts_with('[') && !name.contains(']') {
                if let Some(target) = rest.split_whitespace().next() {
                    found.push(Link {
                        line: line_of(offset),
                        target: target.trim_matches(['<', '>']).to_owned(),
                    });
                }
            }
        }
        offset += line.len();
    }
    found
}

/// mdBook's id of a heading's text (`normalize_id` in mdBook 0.4): letters,
/// digits, `_` and `-` kept and lowercased, whitespace turned into `-`,
/// everything else dropped.
fn heading_id(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// What a heading's Markdown shows as text: a link's text without its
/// target, HTML tags outside code spans dropped.
fn heading_text(markdown: &str) -> String {
    let mut text = String::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(['[', '<', '`']) {
        text.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with('`') {
            let n = rest.chars().take_while(|c| *c == '`').count();
            let fence = &rest[..n];
            match rest[n..].find(fence) {
                Some(end) => {
                    text.push_str(&rest[n..n + end]);
                    rest = &rest[n + end + n..];
                }
                None => {
                    text.push_str(fence);
                    rest = &rest[n..];
                }
            }
        } else if rest.starts_with('<') {
            match rest.find('>') {
                Some(end) => rest = &rest[end + 1..],
                None => {
                    text.push('<');
                    rest = &rest[1..];
                }
            }
        } else {
            match (rest.find("]("), rest.find(')')) {
                (Some(mid), Some(end)) if mid < end => {
                    text.push_str(&rest[1..mid]);
                    rest = &rest[end + 1..];
                }
                _ => {
                    text.push('[');
                    rest = &rest[1..];
                }
            }
        }
    }
    text.push_str(rest);
    text
}

/// The ids of a Markdown file's headings (ATX, `#` to `######`, outside code
/// blocks), a repeated id numbered `-1`, `-2`, … as mdBook numbers it.
fn heading_ids(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids = BTreeSet::new();
    // The masked line finds headings (none in code blocks); the source
    // line gives the text, code spans included.
    for (masked, line) in prose(text).lines().zip(text.lines()) {
        let trimmed = masked.trim_start();
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !trimmed[hashes..].starts_with([' ', '\t']) {
            continue;
        }
        let body = line.trim_start()[hashes..].trim();
        let body = body.trim_end_matches('#').trim_end();
        let id = heading_id(&heading_text(body));
        let count = seen.entry(id.clone()).or_insert(0);
        ids.insert(if *count == 0 {
            id
        } else {
            format!("{id}-{count}")
        });
        *count += 1;
    }
    ids
}

/// A path made plain: `a/./b/../c` → `a/c`, without touching the disk.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// What is wrong with each link of `doc` (a path from the root) whose
/// text is `text`; empty when all resolve.
fn broken_links(doc: &Path, text: &str) -> Vec<String> {
    let dir = doc.parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for Link { line, target } in links(text) {
        if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
            continue;
        }
        let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
        let place = format!("{}:{line}: ({target})", doc.display());
        // A link into the same file is read from `text`, the others from disk.
        let (file, chapter) = if path.is_empty() {
            (doc.to_path_buf(), Some(text.to_owned()))
        } else {
            let file = normalise(&dir.join(path));
            if file.starts_with("..") {
                broken.push(format!("{place}: outside the repository"));
                continue;
            }
            if !root().join(&file).exists() {
                broken.push(format!("{place}: no such file {}", file.display()));
                continue;
            }
            if let Some(wrong) = wrong_in_the_built_book(doc, path, &file) {
                broken.push(format!("{place}: {wrong}"));
                continue;
            }
            let chapter = std::fs::read_to_string(root().join(&file)).ok();
            (file, chapter)
        };
        if anchor.is_empty() {
            continue;
        }
        let Some(chapter) = chapter.filter(|_| file.extension().is_some_and(|e| e == "md")) else {
            broken.push(format!(
                "{place}: an anchor into {}, which is not a chapter",
                file.display()
            ));
            continue;
        };
        let ids = heading_ids(&chapter);
        if !ids.contains(anchor) {
            broken.push(format!(
                "{place}: no heading of {} has the id `{anchor}` (it has: {})",
                file.display(),
                ids.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    broken
}

/// Why a link of a book chapter (`doc`, under `docs/src`) that resolves to
/// `file` in the sources would not in the book built into `target/book`
/// (where the chapter is rendered as deep as it lies in `docs/src`, and a
/// `.md` link becomes `.html`), if it would not.
fn wrong_in_the_built_book(doc: &Path, path: &str, file: &Path) -> Option<String> {
    let chapter_dir = doc.strip_prefix("docs/src").ok()?.parent()?;
    if file.extension().is_some_and(|e| e == "md") {
        return (!file.starts_with("docs/src")).then(|| {
            format!(
                "the book can link to its own chapters only, not to {}",
                file.display()
            )
        });
    }
    let rendered = normalise(&Path::new("target/book").join(chapter_dir).join(path));
    (rendered != file).then(|| {
        format!(
            "in the built book this leads to {} (reach {} through the repository's root, ../../…)",
            rendered.display(),
            file.display()
        )
    })
}

#[test]
fn every_relative_link_and_anchor_of_the_readme_and_the_book_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(root().join(&doc)).unwrap();
        checked += links(&text).len();
        broken.extend(broken_links(&doc, &text));
    }
    assert!(
        broken.is_empty(),
        "{} of {checked} links do not resolve:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        checked > 50,
        "only {checked} links found: is the reader broken?"
    );
}

#[test]
fn every_chapter_of_the_book_is_in_its_summary() {
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|l| normalise(&Path::new("docs/src").join(l.target)))
        .collect();
    let unlisted: Vec<String> = documents()
        .into_iter()
        .filter(|d| d.starts_with("docs/src") && !d.ends_with("SUMMARY.md"))
        .filter(|d| !listed.contains(d))
        .map(|d| d.display().to_string())
        .collect();
    assert!(
        unlisted.is_empty(),
        "chapters missing from SUMMARY.md (mdBook would not render them): {unlisted:?}"
    );
}

#[test]
fn the_readme_links_to_every_chapter_of_the_book() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked: BTreeSet<PathBuf> = links(&readme)
        .into_iter()
        .map(|l| PathBuf::from(l.target.split('#').next().unwrap()))
        .collect();
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    let missing: Vec<String> = links(&summary)
        .into_iter()
        .map(|l| normalise(&Path::new("docs/src").join(l.target)))
        .filter(|chapter| !linked.contains(chapter))
        .map(|chapter| chapter.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the README does not link to {missing:?}"
    );
}

#[test]
fn heading_ids_follow_mdbooks_rule() {
    // As mdBook 0.4.52 wrote them into the built book.
    let cases = [
        ("`POST /run`", "post-run"),
        ("whipcode's API", "whipcodes-api"),
        ("Engines: crun and podman", "engines-crun-and-podman"),
        (
            "VB.NET and F# on an end-of-life .NET",
            "vbnet-and-f-on-an-end-of-life-net",
        ),
        ("Soak (`bench/soak.py`)", "soak-benchsoakpy"),
        ("`./task deb-check`", "task-deb-check"),
        ("A [linked](x.md) heading", "a-linked-heading"),
    ];
    for (heading, id) in cases {
        assert_eq!(heading_id(&heading_text(heading)), id, "{heading}");
    }
    let ids = heading_ids("# A\n\n## Same\n\n```sh\n# not a heading\n```\n\n## Same\n");
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["a", "same", "same-1"],
        "repeated headings are numbered; code blocks hold none"
    );
}

#[test]
fn a_broken_link_or_anchor_is_reported_and_code_is_not_read_as_links() {
    let text = "\
# Title

[ok](#title), [gone](no-such-file.md), [bad anchor](#nowhere),
[source](../Cargo.toml), `[in code](missing.md)`, [up](../../../Cargo.toml), [web](https://example.com/x).

```sh
echo '[in a block](missing.md)'
```

[ref]: also-missing.rs
";
    let broken = broken_links(Path::new("docs/example.md"), text);
    assert_eq!(broken.len(), 4, "{broken:#?}");
    assert!(broken[0].starts_with("docs/example.md:3: (no-such-file.md): no such file"));
    assert!(broken[1].starts_with("docs/example.md:3: (#nowhere): no heading"));
    assert!(
        broken[2].starts_with("docs/example.md:4: (../../../Cargo.toml): outside the repository")
    );
    assert!(broken[3].starts_with("docs/example.md:10: (also-missing.rs): no such file"));
    // In a chapter, a link to a source file must hold in target/book too.
    let chapter = "[root](../../Cargo.toml), [short](../book.toml), [long](../../docs/book.toml)";
    let broken = broken_links(Path::new("docs/src/x.md"), chapter);
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert!(broken[0].contains("(../book.toml): in the built book this leads to target/book.toml"));
}
