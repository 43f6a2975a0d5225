//! The language map: one file (`langmap.toml`, embedded as the default) where
//! each language is one `[[language]]` entry: id, name, image, source file,
//! commands, packages, environment, limits and self-test programs. Adding a
//! language is adding an entry; no Rust changes.
//!
//! Commands are argv lists. `{source}` is replaced by the source file name
//! (steps run in the directory holding it); `{args}`, a whole element, expands
//! to the request's args, zero or more elements. Nothing goes through a shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::naming::image_ref;

/// The map read from the working directory when none is configured.
pub const DEFAULT_FILE: &str = "langmap.toml";
/// The map compiled into the binary.
pub const BUILT_IN: &str = include_str!("../langmap.toml");
/// `^[A-Za-z_][A-Za-z0-9_]*$`: a name the map may reserve and a request
/// may set in a program's environment.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const ARGS: &str = "{args}";
const SOURCE: &str = "{source}";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    image: Vec<ImageEntry>,
    #[serde(default)]
    language: Vec<Entry>,
}

/// An `[[image]]` entry: a named recipe languages can share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageEntry {
    name: String,
    #[serde(default)]
    debootstrap: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    containerfile: Option<String>,
    #[serde(default)]
    fetch: Vec<Fetch>,
    #[serde(default)]
    version: Option<String>,
}

/// A file the host downloads into a Containerfile's build context, checked
/// against its SHA-256 (build containers may not reach the network the way
/// the host does, and a pinned checksum keeps the download honest).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    pub url: String,
    pub sha256: String,
    /// Name in the build context, for `COPY`.
    pub file: String,
}

/// How an image is made. Exactly one of three forms:
/// - `debootstrap = "SUITE"`: a minimal Debian root from the mirror;
/// - `from = "IMAGE"` plus `packages`: Debian packages on another image;
/// - `containerfile`: a whole Containerfile, naming the images it builds on
///   as `{image:NAME}`.
///
/// A Containerfile may `COPY` files listed in `fetch`. `version` is a shell
/// command run in the finished image; its first line is recorded in the
/// image's labels as the toolchain version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default)]
    pub debootstrap: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub containerfile: Option<String>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    #[serde(default)]
    pub version: Option<String>,
}

/// The `{image:NAME}` placeholder of Containerfiles.
const IMAGE_PLACEHOLDER: &str = "{image:";

impl Recipe {
    /// Names of the images this one is built on.
    pub fn depends_on(&self) -> Vec<String> {
        let mut deps: Vec<String> = self.from.iter().cloned().collect();
        if let Some(text) = &self.containerfile {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(IMAGE_PLACEHOLDER) {
                rest = &rest[at + IMAGE_PLACEHOLDER.len()..];
                if let Some(end) = rest.find('}') {
                    deps.push(rest[..end].to_owned());
                    rest = &rest[end..];
                }
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }

    fn validate(&self) -> Result<(), String> {
        let forms = [
            self.debootstrap.is_some(),
            self.from.is_some(),
            self.containerfile.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(
                "needs exactly one of debootstrap, from (+ packages), containerfile".into(),
            );
        }
        if !self.packages.is_empty() && self.from.is_none() {
            return Err("packages go with from".into());
        }
        if !self.fetch.is_empty() && self.containerfile.is_none() {
            return Err("fetch goes with containerfile".into());
        }
        for fetch in &self.fetch {
            let hex =
                fetch.sha256.len() == 64 && fetch.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            let plain = !fetch.file.is_empty()
                && !fetch.file.starts_with('.')
                && fetch
                    .file
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !fetch.url.starts_with("https://") || !hex || !plain {
                return Err(format!(
                    "fetch {:?}: needs an https url, a 64-hex-digit sha256 and a plain file name",
                    fetch.file
                ));
            }
        }
        for package in &self.packages {
            if !package
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.:=~/".contains(c))
            {
                return Err(format!("bad package name {package:?}"));
            }
        }
        if let Some(suite) = &self.debootstrap {
            if !suite.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("bad suite {suite:?}"));
            }
        }
        for dep in self.depends_on() {
            check_image_name(&dep)?;
        }
        Ok(())
    }
}

fn check_image_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "image {name:?} must be lower-case letters, digits, '-', '_' or '.'"
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    /// Environment of every language; a language's own `env` adds to it.
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: u32,
    name: String,
    image: String,
    source: String,
    #[serde(default)]
    compile: Option<Vec<String>>,
    run: Vec<String>,
    /// The image's recipe, when no `[[image]]` entry defines it.
    #[serde(default)]
    recipe: Option<Recipe>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitOverrides,
    /// Shown with the language in listings, e.g. that its toolchain is unmaintained.
    #[serde(default)]
    notice: Option<String>,
    selftest: SelfTest,
}

/// The self-test's programs for one language (`[language.selftest]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfTest {
    /// Prints `Success!`.
    pub hello: String,
    /// Copies its stdin to stdout byte for byte.
    #[serde(default)]
    pub echo: Option<String>,
    /// Args that `args_code` needs to print `Success!`.
    #[serde(default)]
    pub args: Option<String>,
    /// Prints `Success!` only when compiled or run with `args`.
    #[serde(default)]
    pub args_code: Option<String>,
}

/// Per-language overrides of the sandbox's resource limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Process count limit (pids cgroup).
    pub pids: Option<u32>,
    /// Memory limit in MiB (swap pinned to the same).
    pub memory_mb: Option<u32>,
    /// Size of the writable /tmp in MiB.
    pub tmp_mb: Option<u32>,
}

/// One language, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    pub id: u32,
    pub name: String,
    /// Short image name, e.g. `python`.
    pub image: String,
    /// Source file name inside the working directory, e.g. `source.py`.
    pub source: String,
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    /// The complete environment of a run before the request's `env`.
    pub env: BTreeMap<String, String>,
    pub limits: LimitOverrides,
    /// Shown with the language in listings.
    pub notice: Option<String>,
    pub selftest: SelfTest,
}

#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    #[error("cannot read language map {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("language map {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// All languages by id, and the recipes of their images by name.
#[derive(Debug, Clone, Default)]
pub struct LanguageMap {
    by_id: BTreeMap<u32, Arc<Language>>,
    images: BTreeMap<String, Arc<Recipe>>,
}

impl Language {
    /// The image reference podman uses.
    pub fn image_ref(&self) -> String {
        image_ref(&self.image)
    }

    /// The argv steps of one run, placeholders expanded.
    pub fn steps(&self, args: &[String]) -> Vec<Vec<String>> {
        let expand = |argv: &Vec<String>| -> Vec<String> {
            let mut out = Vec::with_capacity(argv.len() + args.len());
            for item in argv {
                if item == ARGS {
                    out.extend(args.iter().cloned());
                } else {
                    out.push(item.replace(SOURCE, &self.source));
                }
            }
            out
        };
        self.compile
            .iter()
            .chain(std::iter::once(&self.run))
            .map(expand)
            .collect()
    }

    /// Variables a request may not set: everything the language defines.
    pub fn is_reserved_env(&self, name: &str) -> bool {
        self.env.contains_key(name)
    }
}

impl LanguageMap {
    pub fn get(&self, id: u32) -> Option<&Arc<Language>> {
        self.by_id.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Language>> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The configured file, or the built-in map when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<LanguageMap, LanguageError> {
        match path {
            None => LanguageMap::parse(BUILT_IN, "(built in)"),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| LanguageError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                LanguageMap::parse(&text, &path.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, origin: &str) -> Result<LanguageMap, LanguageError> {
        let invalid = |message: String| LanguageError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let table: toml::Table = text.parse().map_err(|e| invalid(format!("{e}")))?;
        if looks_like_the_original_shape(&table) {
            return Err(invalid(ORIGINAL_SHAPE_HELP.to_owned()));
        }
        let file: MapFile = table.try_into().map_err(|e| invalid(format!("{e}")))?;
        let mut images = BTreeMap::new();
        for entry in file.image {
            let name = entry.name;
            let recipe = Recipe {
                debootstrap: entry.debootstrap,
                from: entry.from,
                packages: entry.packages,
                containerfile: entry.containerfile,
                fetch: entry.fetch,
                version: entry.version,
            };
            check_image_name(&name)
                .and_then(|()| recipe.validate())
                .map_err(|m| invalid(format!("image {name}: {m}")))?;
            if images.insert(name.clone(), Arc::new(recipe)).is_some() {
                return Err(invalid(format!("image {name} appears twice")));
            }
        }
        let mut by_id = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for mut entry in file.language {
            let id = entry.id;
            if let Some(recipe) = entry.recipe.take() {
                recipe
                    .validate()
                    .map_err(|m| invalid(format!("language {id}: recipe: {m}")))?;
                if images
                    .insert(entry.image.clone(), Arc::new(recipe))
                    .is_some()
                {
                    return Err(invalid(format!(
                        "language {id}: image {} has a recipe here and elsewhere",
                        entry.image
                    )));
                }
            }
            let language = validate(entry, &file.defaults)
                .map_err(|m| invalid(format!("language {id}: {m}")))?;
            if !names.insert(language.name.to_ascii_lowercase()) {
                return Err(invalid(format!(
                    "language name {} appears twice",
                    language.name
                )));
            }
            if by_id.insert(id, Arc::new(language)).is_some() {
                return Err(invalid(format!("language id {id} appears twice")));
            }
        }
        if by_id.is_empty() {
            return Err(invalid("no [[language]] entries".into()));
        }
        let map = LanguageMap { by_id, images };
        map.check_images().map_err(invalid)?;
        Ok(map)
    }

    /// Every image named has a recipe, and recipes build on each other without cycles.
    fn check_images(&self) -> Result<(), String> {
        for lang in self.iter() {
            if !self.images.contains_key(&lang.image) {
                return Err(format!(
                    "language {}: image {} has no recipe ([[image]] or [language.recipe])",
                    lang.id, lang.image
                ));
            }
        }
        for name in self.images.keys() {
            self.build_order(std::slice::from_ref(name))?;
        }
        Ok(())
    }

    pub fn recipe(&self, image: &str) -> Option<&Arc<Recipe>> {
        self.images.get(image)
    }

    /// `images` and everything they build on, each after what it builds on.
    pub fn build_order(&self, images: &[String]) -> Result<Vec<String>, String> {
        fn visit(
            map: &LanguageMap,
            name: &str,
            path: &mut Vec<String>,
            out: &mut Vec<String>,
        ) -> Result<(), String> {
            if out.iter().any(|n| n == name) {
                return Ok(());
            }
            if path.iter().any(|n| n == name) {
                return Err(format!(
                    "images build on each other in a cycle: {} -> {name}",
                    path.join(" -> ")
                ));
            }
            let recipe = map
                .images
                .get(name)
                .ok_or_else(|| format!("image {name} has no recipe"))?;
            path.push(name.to_owned());
            for dep in recipe.depends_on() {
                visit(map, &dep, path, out)?;
            }
            path.pop();
            out.push(name.to_owned());
            Ok(())
        }
        let mut out = Vec::new();
        for name in images {
            visit(self, name, &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    }

    /// Names of every image with a recipe.
    pub fn image_names(&self) -> impl Iterator<Item = &String> {
        self.images.keys()
    }

    /// Languages named by id or (case-insensitive) name or image; all when empty.
    pub fn select(&self, wanted: &[String]) -> Result<Vec<Arc<Language>>, String> {
        if wanted.is_empty() {
            return Ok(self.iter().cloned().collect());
        }
        wanted
            .iter()
            .map(|w| {
                self.iter()
                    .find(|l| {
                        l.id.to_string() == *w
                            || l.name.eq_ignore_ascii_case(w)
                            || l.image.eq_ignore_ascii_case(w)
                    })
                    .cloned()
                    .ok_or_else(|| format!("no language {w:?} in the language map"))
            })
            .collect()
    }
}

const ORIGINAL_SHAPE_HELP: &str = "this is the original whipcode's shape ([1] entry = \"python\", \
ext = \"py\"); whipcode-rs keeps each language in one entry, e.g.\n\n\
[[language]]\nid = 1\nname = \"Python\"\nimage = \"python\"\nsource = \"source.py\"\n\
run = [\"python3\", \"{args}\", \"{source}\"]\n\
recipe = { from = \"base\", packages = [\"python3\"] }\n\
selftest = { hello = \"print('Success!')\" }\n";

fn looks_like_the_original_shape(table: &toml::Table) -> bool {
    table.iter().any(|(key, value)| {
        key.chars().all(|c| c.is_ascii_digit())
            && value
                .as_table()
                .is_some_and(|t| t.contains_key("entry") || t.contains_key("ext"))
    })
}

fn validate(entry: Entry, defaults: &Defaults) -> Result<Language, String> {
    if entry.id == 0 {
        return Err("id must be 1 or more".into());
    }
    if entry.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !plain(&entry.image) || entry.image.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "image {:?} must be lower-case letters, digits, '-', '_' or '.'",
            entry.image
        ));
    }
    if !plain(&entry.source) || entry.source.starts_with('.') {
        return Err(format!(
            "source {:?} must be a plain file name",
            entry.source
        ));
    }
    if entry.selftest.args.is_some() != entry.selftest.args_code.is_some() {
        return Err("selftest: args and args_code go together".into());
    }
    for argv in entry.compile.iter().chain(std::iter::once(&entry.run)) {
        check_command(argv)?;
    }
    let mut env = defaults.env.clone();
    env.extend(entry.env);
    for (name, value) in &env {
        if !is_env_name(name) || value.contains('\0') {
            return Err(format!("bad environment variable {name:?}"));
        }
    }
    if !env.contains_key("PATH") {
        return Err("the environment needs PATH (set it in [defaults.env])".into());
    }
    Ok(Language {
        id: entry.id,
        name: entry.name,
        image: entry.image,
        source: entry.source,
        compile: entry.compile,
        run: entry.run,
        env,
        limits: entry.limits,
        notice: entry.notice,
        selftest: entry.selftest,
    })
}

fn check_command(argv: &[String]) -> Result<(), String> {
    if argv.first().is_none_or(|p| p.is_empty() || p == ARGS) {
        return Err("a command must start with a program name".into());
    }
    for item in argv {
        let mut rest = item.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in {item:?}"))?;
            let placeholder = &rest[open..open + close + 1];
            match placeholder {
                SOURCE => {}
                ARGS if item == ARGS => {}
                ARGS => {
                    return Err(format!(
                        "{ARGS} must be a whole element, not part of {item:?}"
                    ))
                }
                other => return Err(format!("unknown placeholder {other} in {item:?}")),
            }
            rest = &rest[open + close + 1..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_shell_rule() {
        assert!(is_env_name("A") && is_env_name("_") && is_env_name("a_1"));
        assert!(!is_env_name("1a") && !is_env_name("a.b") && !is_env_name("é"));
    }

    const MINI: &str = r#"
[defaults.env]
PATH = "/usr/bin:/bin"
HOME = "/tmp"

[[image]]
name = "base"
debootstrap = "bookworm"

[[language]]
id = 7
name = "C"
image = "c"
source = "source.c"
compile = ["gcc", "-O2", "{args}", "-o", "/tmp/a.out", "{source}"]
run = ["/tmp/a.out"]
recipe = { from = "base", packages = ["gcc", "libc6-dev"] }
selftest = { hello = "int main(void) { return 0; }" }
"#;

    fn parse_err(text: &str) -> String {
        LanguageMap::parse(text, "test").unwrap_err().to_string()
    }

    #[test]
    fn the_built_in_map_is_valid_and_has_the_core_languages() {
        let map = LanguageMap::load(None).unwrap();
        assert_eq!(map.len(), 28);
        for (id, name) in [(1, "Python"), (2, "JavaScript"), (3, "Bash"), (7, "C")] {
            let lang = map.get(id).unwrap_or_else(|| panic!("id {id}"));
            assert_eq!(lang.name, name);
            assert!(
                !lang.selftest.hello.is_empty(),
                "{name} has a hello program"
            );
        }
    }

    #[test]
    fn every_built_in_language_has_all_three_self_tests() {
        for lang in LanguageMap::load(None).unwrap().iter() {
            let t = &lang.selftest;
            assert!(
                t.echo.is_some() && t.args.is_some() && t.args_code.is_some(),
                "{} lacks a self-test program",
                lang.name
            );
        }
    }

    #[test]
    fn placeholders_expand_into_separate_arguments() {
        let map = LanguageMap::parse(MINI, "test").unwrap();
        let c = map.get(7).unwrap();
        let args = vec!["-Wall".to_string(), "-DX=$(id)".to_string()];
        assert_eq!(
            c.steps(&args),
            vec![
                vec![
                    "gcc",
                    "-O2",
                    "-Wall",
                    "-DX=$(id)",
                    "-o",
                    "/tmp/a.out",
                    "source.c"
                ],
                vec!["/tmp/a.out"],
            ]
        );
        assert_eq!(
            c.steps(&[])[0],
            vec!["gcc", "-O2", "-o", "/tmp/a.out", "source.c"]
        );
    }

    #[test]
    fn defaults_env_is_merged_and_reserved() {
        let map = LanguageMap::parse(MINI, "test").unwrap();
        let c = map.get(7).unwrap();
        assert_eq!(c.env.get("HOME").map(String::as_str), Some("/tmp"));
        assert!(c.is_reserved_env("PATH") && !c.is_reserved_env("MY_VAR"));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let again = "\n[[language]]\nid = 7\nname = \"C again\"\nimage = \"c\"\nsource = \"a.c\"\n\
                     run = [\"cc\"]\nselftest = { hello = \"x\" }\n";
        assert!(parse_err(&format!("{MINI}{again}")).contains("appears twice"));
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        let text = MINI.replace("{source}\"]", "{src}\"]");
        assert!(parse_err(&text).contains("unknown placeholder {src}"));
    }

    #[test]
    fn args_placeholder_inside_an_element_is_refused() {
        let text = MINI.replace("\"{args}\"", "\"-x{args}\"");
        assert!(parse_err(&text).contains("whole element"));
    }

    #[test]
    fn the_original_shape_is_refused_with_the_new_shape_shown() {
        let err = parse_err("[1]\nentry = \"python\"\next = \"py\"\n");
        assert!(
            err.contains("original") && err.contains("[[language]]"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_names_are_refused() {
        assert!(parse_err(&MINI.replace("packages", "pakages")).contains("pakages"));
        assert!(parse_err(&MINI.replace("\"source.c\"", "\"../x.c\"")).contains("plain file name"));
        assert!(parse_err(&MINI.replace("image = \"c\"", "image = \"C/x\"")).contains("image"));
    }

    #[test]
    fn a_toy_language_is_one_entry() {
        let toy = format!(
            "{MINI}\n[[language]]\nid = 99\nname = \"Toy\"\nimage = \"c\"\nsource = \"toy.txt\"\n\
             run = [\"cat\", \"{{source}}\"]\nselftest = {{ hello = \"Success!\" }}\n"
        );
        let map = LanguageMap::parse(&toy, "test").unwrap();
        assert_eq!(
            map.get(99).unwrap().steps(&[]),
            vec![vec!["cat", "toy.txt"]]
        );
    }

    #[test]
    fn images_need_a_recipe_and_recipes_no_cycles() {
        let no_recipe = MINI.replace(
            "recipe = { from = \"base\", packages = [\"gcc\", \"libc6-dev\"] }\n",
            "",
        );
        assert!(
            parse_err(&no_recipe).contains("no recipe"),
            "{}",
            parse_err(&no_recipe)
        );
        let cycle = MINI.replace("debootstrap = \"bookworm\"", "from = \"c\"");
        assert!(parse_err(&cycle).contains("cycle"), "{}", parse_err(&cycle));
        let two_forms = MINI.replace(
            "debootstrap = \"bookworm\"",
            "debootstrap = \"bookworm\"\nfrom = \"x\"",
        );
        assert!(parse_err(&two_forms).contains("exactly one"));
        let unknown_parent = MINI.replace("from = \"base\"", "from = \"nowhere\"");
        assert!(parse_err(&unknown_parent).contains("nowhere"));
    }

    #[test]
    fn the_build_order_puts_parents_first() {
        let map = LanguageMap::load(None).unwrap();
        let order = map
            .build_order(&["cpp".into(), "typescript".into()])
            .unwrap();
        let at = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(at("base") < at("c") && at("c") < at("cpp"));
        assert!(at("javascript") < at("typescript"));
    }

    #[test]
    fn select_finds_by_id_name_or_image() {
        let map = LanguageMap::load(None).unwrap();
        let picked = map
            .select(&["1".into(), "javascript".into(), "c".into()])
            .unwrap();
        assert_eq!(
            picked.iter().map(|l| l.id).collect::<Vec<_>>(),
            vec![1, 2, 7]
        );
        assert!(map.select(&["cobol".into()]).is_err());
    }
}
