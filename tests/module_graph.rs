//! The modules of `src/` import each other without cycles: arrows only point
//! down, a parent and its children included. Read from the source: every
//! `use` and every inline path (from `crate`, `super`, `self`, a name a `use`
//! brought in, or a child module) outside test modules is an edge from the
//! file it is in to the deepest module it names.
//!
//! Between top-level modules, only the directions of [`DIRECTIONS`] are
//! allowed: one table, read top to bottom, each module and what it may import.
//!
//! Hand-written because the tool that checks this (`cargo modules
//! dependencies --acyclic`) builds rust-analyzer from source, minutes of CI
//! time on two cores for a check this small.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module as its path from the crate root, e.g. `["sandbox", "pool"]`.
type Module = Vec<String>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the library and the file that holds it.
fn modules(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut module = prefix.clone();
            module.push(name);
            modules(&path, &module, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let module = match stem {
                "mod" => prefix.clone(),
                "lib" if prefix.is_empty() => Vec::new(),
                "main" if prefix.is_empty() => continue, // the binary, not a module
                _ => [prefix.clone(), vec![stem.to_owned()]].concat(),
            };
            out.insert(module, path);
        }
    }
}

/// The source without comments and without its `#[cfg(test)]` module.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.trim() == "mod tests {") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// `a::{b, c::{d as e, f}}` → `a::b`, `a::c::d as e`, `a::c::f`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(open) = tree.find('{') else {
        return vec![tree.replace(":: ", "::").replace(" ::", "::")];
    };
    let head = tree[..open].trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{head}{e}")))
        .collect()
}

/// Every path the code names: the trees of its `use` items, expanded, and
/// every inline path (`a::b::c`): from `crate`, `super` or `self`, from a
/// name a `use` brought in (aliases included), or from a child module.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // What each name a `use` brings into scope stands for.
    let mut scope = std::collections::HashMap::new();
    let mut without_uses = String::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use ") {
        without_uses.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        for entry in expand(&after[..end]) {
            let (path, name) = match entry.split_once(" as ") {
                Some((path, alias)) => (path.trim().to_owned(), alias.trim().to_owned()),
                None => {
                    let path = entry.trim_end_matches("::self").to_owned();
                    let name = path.rsplit("::").next().unwrap_or_default().to_owned();
                    (path, name)
                }
            };
            if name != "*" && name != "_" {
                scope.insert(name, path.clone());
            }
            paths.push(path);
        }
        rest = &after[end..];
    }
    without_uses.push_str(rest);
    let text = without_uses.as_str();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap();
        let starts_word = is_ident(c)
            && !text[..i]
                .chars()
                .next_back()
                .is_some_and(|b| is_ident(b) || b == ':');
        if !starts_word {
            i += c.len_utf8();
            continue;
        }
        let token: String = text[i..]
            .chars()
            .take_while(|c| is_ident(*c) || *c == ':')
            .collect();
        i += token.len();
        let token = token.trim_end_matches(':');
        let Some((first, tail)) = token.split_once("::") else {
            continue;
        };
        match scope.get(first) {
            Some(path) if !["crate", "super", "self"].contains(&first) => {
                paths.push(format!("{path}::{tail}"))
            }
            _ => paths.push(token.to_owned()),
        }
    }
    paths
}

/// The position of `word` in `text` where it starts a word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let at = from + at;
        let before = text[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The deepest known module `path` names, seen from module `from` (a file
/// that is a `mod.rs` or `lib.rs` is its own module; others are leaves).
fn resolve(path: &str, from: &Module, known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest) = match segments.first()? {
        &"crate" => (Vec::new(), &segments[1..]),
        &"self" => (from.clone(), &segments[1..]),
        &"super" => {
            let mut base = from.clone();
            let mut rest = &segments[..];
            while rest.first() == Some(&"super") {
                base.pop()?;
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A path that starts at a child module of this one.
        first => {
            let child = [from.clone(), vec![(*first).to_owned()]].concat();
            if !known.contains_key(&child) {
                return None; // another crate, or a name in scope
            }
            (from.clone(), &segments[..])
        }
    };
    let mut deepest = base.clone();
    for segment in rest {
        base.push((*segment).to_owned());
        if known.contains_key(&base) {
            deepest = base.clone();
        } else {
            break;
        }
    }
    Some(deepest)
}

/// Every module of `src/`, with `sandbox` and `naming` known (as leaves)
/// even where they live in a crate of their own rather than in `src/`.
fn known_modules() -> BTreeMap<Module, PathBuf> {
    let mut known = BTreeMap::new();
    modules(&src(), &Vec::new(), &mut known);
    for leaf in LEAVES_ELSEWHERE {
        known.entry(vec![leaf.to_owned()]).or_default();
    }
    known
}

fn module_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let known = known_modules();
    let mut graph = BTreeMap::new();
    for (module, file) in &known {
        if file.as_os_str().is_empty() {
            graph.insert(module.clone(), BTreeSet::new()); // not in src/
            continue;
        }
        let edges: BTreeSet<Module> = paths_in(&code_of(file))
            .iter()
            .filter_map(|p| resolve(p, module, &known))
            .filter(|target| target != module)
            .collect();
        graph.insert(module.clone(), edges);
    }
    graph
}

/// One cycle of the graph, as the modules along it, if there is any.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = stack.iter().position(|m| m == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn show(module: &Module) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Top-level modules that may live outside `src/` (the sandbox's own
/// crate, re-exported by `lib.rs`): known leaves all the same.
const LEAVES_ELSEWHERE: [&str; 2] = ["sandbox", "naming"];

/// The directions between top-level modules: each module, then the modules
/// it may import: a top-level module (and everything in it), or one module
/// inside another (`config` reads one of the HTTP layer's, not the rest of
/// it). Top to bottom: `server` wires settings
/// to their owners; `config` resolves into the types of the modules that
/// own them; the HTTP layer knows no runtime flag (`api` never names
/// `config`); the listener knows neither the API nor the config; the
/// sandbox and the names it shares with the image builder know nothing of
/// this crate.
#[rustfmt::skip]
const DIRECTIONS: &[(&str, &[&str])] = &[
    ("server",    &["allowlist", "api", "auth", "buckets", "cli", "config", "images", "keygen", "languages",
                    "listen", "naming", "sandbox", "selftest", "shutdown", "tickets", "tls"]),
    ("shutdown",  &["api"]),
    ("cli",       &["config"]),
    ("config",    &["allowlist", "api::own_routes", "buckets", "languages", "origins", "sandbox"]),
    ("keygen",    &["auth"]),
    ("selftest",  &["languages"]),
    ("api",       &["allowlist", "auth", "buckets", "languages", "listen", "origins",
                    "sandbox", "tickets"]),
    ("listen",    &["buckets"]),
    ("tls",       &[]),
    ("images",    &["languages", "naming", "sandbox"]),
    ("auth",      &["buckets", "tickets"]),
    ("buckets",   &[]),
    ("tickets",   &[]),
    ("languages", &["naming", "sandbox"]),
    // The sandbox's own crate (crates/sandbox, with `naming`): the compiler
    // keeps it from naming anything of this one.
    ("sandbox",   &["naming"]),
    ("naming",    &[]),
    ("allowlist", &[]),
    // `--cors-origins`, as `allowlist`: parsed by `config`, matched by `api`.
    ("origins",   &[]),
];

/// The top-level module a module is in (`crate` for the root).
fn top(module: &Module) -> &str {
    module.first().map_or("crate", String::as_str)
}

/// Every edge between two top-level modules that `directions` does not
/// allow, as `file: from -> to (…)`; a top-level module missing from the
/// table is one too.
fn forbidden_edges(
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    directions: &[(&str, &[&str])],
    file_of: impl Fn(&Module) -> String,
) -> Vec<String> {
    let table: BTreeMap<&str, &[&str]> = directions.iter().copied().collect();
    let mut wrong = Vec::new();
    let tops: BTreeSet<&str> = graph.keys().map(top).filter(|t| *t != "crate").collect();
    for missing in tops.iter().filter(|t| !table.contains_key(*t)) {
        wrong.push(format!(
            "{missing}: a top-level module with no row in the table"
        ));
    }
    for (from, targets) in graph {
        for to in targets {
            let (a, b) = (top(from), top(to));
            let within = |entry: &&str| {
                let entry: Vec<&str> = entry.split("::").collect();
                to.len() >= entry.len() && to.iter().zip(&entry).all(|(m, e)| m == e)
            };
            let allowed = a == b
                || (a == "crate" && b != "crate")
                || table.get(a).is_some_and(|may| may.iter().any(within));
            if !allowed {
                wrong.push(format!(
                    "{}: {} -> {} ({a} may not import {b})",
                    file_of(from),
                    show(from),
                    show(to)
                ));
            }
        }
    }
    wrong
}

#[test]
fn top_level_modules_import_only_in_the_directions_of_the_table() {
    let known = known_modules();
    let graph = module_graph();
    let file_of = |m: &Module| {
        let file = &known[m];
        file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(file)
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_owned()
    };
    let wrong = forbidden_edges(&graph, DIRECTIONS, file_of);
    assert!(
        wrong.is_empty(),
        "imports against the direction table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_direction_check_flags_an_edge_the_table_does_not_allow() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let graph = BTreeMap::from([
        (m("high"), BTreeSet::from([m("low::part"), m("mid::open")])),
        (m("mid"), BTreeSet::from([m("low")])),
        (m("low"), BTreeSet::from([m("low::part")])),
        (m("low::part"), BTreeSet::from([m("high")])),
        (m("crate_root_free"), BTreeSet::new()),
    ]);
    let table: &[(&str, &[&str])] = &[
        ("high", &["low", "mid::open"]),
        ("mid", &["low::part"]),
        ("low", &[]),
    ];
    let wrong = forbidden_edges(&graph, table, |m| format!("src/{}.rs", m.join("/")));
    assert_eq!(
        wrong,
        [
            "crate_root_free: a top-level module with no row in the table",
            "src/low/part.rs: low::part -> high (low may not import high)",
            "src/mid.rs: mid -> low (mid may not import low)",
        ]
    );
}

#[test]
fn no_module_imports_form_a_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the modules were found: {graph:?}");
    // Every cycle at once: report one, cut its last edge, look again.
    let mut rest = graph.clone();
    let mut cycles = Vec::new();
    while let Some(cycle) = find_cycle(&rest) {
        let (from, to) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
        rest.get_mut(from).unwrap().remove(to);
        cycles.push(cycle.iter().map(show).collect::<Vec<_>>().join(" -> "));
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_use_trees_inline_paths_and_child_modules() {
    let mut known = BTreeMap::new();
    for m in ["", "a", "a::b", "c"] {
        let module: Module = m
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        known.insert(module, PathBuf::new());
    }
    let a: Module = vec!["a".into()];
    let ab: Module = vec!["a".into(), "b".into()];
    let c: Module = vec!["c".into()];
    let code = "use crate::{c::X, a::b::{Y, Z}};\nuse b::W;\nfn f() { super::c::g(); }";
    let inline = "fn g() -> b::T { todo!() }";
    let aliased = "use crate::c as other;\nfn h() { other::f(); }";
    let targets: BTreeSet<Module> = paths_in(code)
        .iter()
        .filter_map(|p| resolve(p, &a, &known))
        .collect();
    assert_eq!(targets, BTreeSet::from([ab.clone(), c.clone()]));
    let resolved = |code: &str| -> BTreeSet<Module> {
        paths_in(code)
            .iter()
            .filter_map(|p| resolve(p, &a, &known))
            .collect()
    };
    assert_eq!(
        resolved(inline),
        BTreeSet::from([ab.clone()]),
        "a child module inline"
    );
    assert_eq!(
        resolved(aliased),
        BTreeSet::from([c.clone()]),
        "through an alias"
    );
    let graph = BTreeMap::from([
        (a.clone(), BTreeSet::from([c.clone()])),
        (c.clone(), BTreeSet::from([ab.clone()])),
        (ab.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
}
