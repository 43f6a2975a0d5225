//! The map file's schema (`[defaults]`, `[[image]]`, `[[language]]`) and its
//! validation into languages and recipes, including spotting the original
//! whipcode's shape and showing the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use super::language::{
    is_env_name, Judge0Ids, Language, LimitOverrides, PistonName, SelfTest, ARGS, ENTRY_STEM,
    PROGRAM_ARGS, SOURCE, SOURCES,
};
use super::recipe::{check_image_name, Recipe};
use super::rewrite::Rewrite;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    defaults: Defaults,
    /// `[[image]]` entries: a `name` and a recipe languages can share.
    #[serde(default)]
    image: Vec<toml::Table>,
    #[serde(default)]
    language: Vec<Entry>,
}

/// What a map file defines: recipes by image name, languages by id.
pub(super) type Parsed = (BTreeMap<String, Arc<Recipe>>, BTreeMap<u32, Arc<Language>>);

/// Reads and validates a map file's text.
pub(super) fn read(text: &str) -> Result<Parsed, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
    if looks_like_the_original_shape(&table) {
        return Err(ORIGINAL_SHAPE_HELP.to_owned());
    }
    let file: MapFile = table.try_into().map_err(|e| format!("{e}"))?;
    let mut images = BTreeMap::new();
    for mut entry in file.image {
        let name = match entry.remove("name") {
            Some(toml::Value::String(name)) => name,
            _ => return Err("an [[image]] entry needs a name".into()),
        };
        let recipe: Recipe = toml::Value::Table(entry)
            .try_into()
            .map_err(|e| format!("image {name}: {e}"))?;
        check_image_name(&name)
            .and_then(|()| recipe.validate())
            .map_err(|m| format!("image {name}: {m}"))?;
        if images.insert(name.clone(), Arc::new(recipe)).is_some() {
            return Err(format!("image {name} appears twice"));
        }
    }
    let mut by_id = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut piston_names = BTreeSet::new();
    let mut judge0_ids = BTreeSet::new();
    for mut entry in file.language {
        let id = entry.id;
        if let Some(recipe) = entry.recipe.take() {
            recipe
                .validate()
                .map_err(|m| format!("language {id}: recipe: {m}"))?;
            if images
                .insert(entry.image.clone(), Arc::new(recipe))
                .is_some()
            {
                return Err(format!(
                    "language {id}: image {} has a recipe here and elsewhere",
                    entry.image
                ));
            }
        }
        let language =
            validate(entry, &file.defaults).map_err(|m| format!("language {id}: {m}"))?;
        if !names.insert(language.name.to_ascii_lowercase()) {
            return Err(format!("language name {} appears twice", language.name));
        }
        for piston_name in language.piston.iter().flat_map(PistonName::all) {
            if !piston_names.insert(piston_name.to_owned()) {
                return Err(format!(
                    "language {id}: Piston name or alias {piston_name:?} is taken"
                ));
            }
        }
        if let Some(judge0) = &language.judge0 {
            if !judge0.ids.contains(&judge0.shown) {
                return Err(format!(
                    "language {id}: judge0.shown {} is not one of its ids",
                    judge0.shown
                ));
            }
            if let Some(taken) = judge0.ids.iter().find(|n| !judge0_ids.insert(**n)) {
                return Err(format!("language {id}: Judge0 id {taken} is taken"));
            }
        }
        if by_id.insert(id, Arc::new(language)).is_some() {
            return Err(format!("language id {id} appears twice"));
        }
    }
    if by_id.is_empty() {
        return Err("no [[language]] entries".into());
    }
    Ok((images, by_id))
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
    /// Extensions of the files compiled together (`{sources}`).
    #[serde(default)]
    sources: Vec<String>,
    /// Steps used instead when a job has more than one source file.
    #[serde(default)]
    several: Option<Several>,
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
    /// Its name and aliases in Piston's API.
    #[serde(default)]
    piston: Option<PistonName>,
    /// What a project build would do to its source files first.
    #[serde(default)]
    rewrite: Option<Rewrite>,
    /// Its ids in Judge0's API.
    #[serde(default)]
    judge0: Option<Judge0Ids>,
    /// Its run step builds the program first (`go run`, `zig run`).
    #[serde(default)]
    run_builds: bool,
    selftest: SelfTest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Several {
    #[serde(default)]
    compile: Option<Vec<String>>,
    run: Vec<String>,
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
    check_image_name(&entry.image)?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !plain(&entry.source) || entry.source.starts_with('.') {
        return Err(format!(
            "source {:?} must be a plain file name",
            entry.source
        ));
    }
    if entry.selftest.args.is_some() != entry.selftest.args_code.is_some() {
        return Err("selftest: args and args_code go together".into());
    }
    for argv in entry.compile.iter() {
        check_command(argv, false)?;
    }
    check_command(&entry.run, true)?;
    if let Some(several) = &entry.several {
        for argv in several.compile.iter() {
            check_command(argv, false)?;
        }
        check_command(&several.run, true)?;
    }
    if entry
        .sources
        .iter()
        .any(|ext| !ext.starts_with('.') || ext.len() < 2)
    {
        return Err("sources: extensions such as \".c\"".into());
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
        sources: entry.sources,
        several: entry.several.map(|s| (s.compile, s.run)),
        piston: entry.piston,
        rewrite: entry.rewrite,
        judge0: entry.judge0,
        run_builds: entry.run_builds,
        env,
        limits: entry.limits,
        notice: entry.notice,
        selftest: entry.selftest,
    })
}

/// A command's placeholders are known and whole elements (a file name is
/// never spliced into a longer string, such as a shell script);
/// `{program_args}` only in a run step.
fn check_command(argv: &[String], run: bool) -> Result<(), String> {
    if argv
        .first()
        .is_none_or(|p| p.is_empty() || p.starts_with('{'))
    {
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
                PROGRAM_ARGS if !run => {
                    return Err(format!("{PROGRAM_ARGS} belongs in a run step only"))
                }
                ARGS | SOURCES | SOURCE | ENTRY_STEM | PROGRAM_ARGS if item == placeholder => {}
                ARGS | SOURCES | SOURCE | ENTRY_STEM | PROGRAM_ARGS => {
                    return Err(format!(
                        "{placeholder} must be a whole element, not part of {item:?}"
                    ))
                }
                other => return Err(format!("unknown placeholder {other} in {item:?}")),
            }
            rest = &rest[open + close + 1..];
        }
    }
    Ok(())
}
