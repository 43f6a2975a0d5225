//! The map file's schema (`[defaults]`, `[[image]]`, `[[language]]`) and its
//! validation into languages and recipes, including spotting the original
//! whipcode's shape and showing the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;

use super::api_names::{Judge0Ids, PistonName};
use super::error::{CommandError, EntryError, MapError, RecipeError};
use super::language::{
    is_env_name, Language, LimitOverrides, SelfTest, ARGS, ENTRY_STEM, PROGRAM_ARGS, SOURCE,
    SOURCES,
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
pub(super) fn read(text: &str) -> Result<Parsed, MapError> {
    let table: toml::Table = text.parse().map_err(MapError::Syntax)?;
    if looks_like_the_original_shape(&table) {
        return Err(MapError::OriginalShape);
    }
    let file: MapFile = table.try_into().map_err(MapError::Schema)?;
    let mut images = images(file.image)?;
    let by_id = languages(file.language, &file.defaults, &mut images)?;
    Ok((images, by_id))
}

/// The `[[image]]` entries' recipes by name.
fn images(entries: Vec<toml::Table>) -> Result<BTreeMap<String, Arc<Recipe>>, MapError> {
    let mut images = BTreeMap::new();
    for mut entry in entries {
        let name = match entry.remove("name") {
            Some(toml::Value::String(name)) => name,
            _ => return Err(MapError::ImageWithoutName),
        };
        let recipe: Recipe = match toml::Value::Table(entry).try_into() {
            Ok(recipe) => recipe,
            Err(source) => return Err(MapError::ImageSchema { name, source }),
        };
        if let Err(source) = check_image_name(&name)
            .map_err(RecipeError::from)
            .and_then(|()| recipe.validate())
        {
            return Err(MapError::Image { name, source });
        }
        if images.insert(name.clone(), Arc::new(recipe)).is_some() {
            return Err(MapError::ImageTwice(name));
        }
    }
    Ok(images)
}

/// The `[[language]]` entries by id, each name, Piston name and Judge0 id
/// used once; the recipes they define added to `images`.
fn languages(
    entries: Vec<Entry>,
    defaults: &Defaults,
    images: &mut BTreeMap<String, Arc<Recipe>>,
) -> Result<BTreeMap<u32, Arc<Language>>, MapError> {
    let mut by_id = BTreeMap::new();
    let mut taken = Taken::default();
    for mut entry in entries {
        let id = entry.id;
        if let Some(recipe) = entry.recipe.take() {
            recipe
                .validate()
                .map_err(|source| MapError::LanguageRecipe { id, source })?;
            if images
                .insert(entry.image.clone(), Arc::new(recipe))
                .is_some()
            {
                return Err(MapError::RecipeTwice {
                    id,
                    image: entry.image,
                });
            }
        }
        let language =
            validate(entry, defaults).map_err(|source| MapError::Language { id, source })?;
        taken.claim(&language)?;
        if by_id.insert(id, Arc::new(language)).is_some() {
            return Err(MapError::IdTwice(id));
        }
    }
    if by_id.is_empty() {
        return Err(MapError::NoLanguages);
    }
    Ok(by_id)
}

/// What the languages read so far have claimed: names (in any case),
/// Piston names and aliases, Judge0 ids.
#[derive(Default)]
struct Taken {
    names: BTreeSet<String>,
    piston_names: BTreeSet<String>,
    judge0_ids: BTreeSet<u32>,
    judge0_extra_ids: BTreeSet<u32>,
}

impl Taken {
    fn claim(&mut self, language: &Language) -> Result<(), MapError> {
        let id = language.id;
        if !self.names.insert(language.name.to_ascii_lowercase()) {
            return Err(MapError::NameTwice(language.name.clone()));
        }
        for piston_name in language.piston.iter().flat_map(PistonName::all) {
            if !self.piston_names.insert(piston_name.to_owned()) {
                return Err(MapError::PistonNameTaken {
                    id,
                    name: piston_name.to_owned(),
                });
            }
        }
        claim_judge0(id, "judge0", language.judge0.as_ref(), &mut self.judge0_ids)?;
        let extra = language.judge0_extra.as_ref();
        claim_judge0(id, "judge0_extra", extra, &mut self.judge0_extra_ids)?;
        Ok(())
    }
}

/// `ids` (the language `id`'s, under `field`) claimed in `taken`; `shown` is one of them.
fn claim_judge0(
    id: u32,
    field: &'static str,
    ids: Option<&Judge0Ids>,
    taken: &mut BTreeSet<u32>,
) -> Result<(), MapError> {
    let Some(ids) = ids else {
        return Ok(());
    };
    if !ids.ids.contains(&ids.shown) {
        let shown = ids.shown;
        return Err(MapError::Judge0Shown { id, field, shown });
    }
    match ids.ids.iter().find(|n| !taken.insert(**n)) {
        Some(&taken) => Err(MapError::Judge0IdTaken { id, field, taken }),
        None => Ok(()),
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
    /// Its toolchain's version and where it comes from, for the docs.
    #[serde(default)]
    toolchain: Option<String>,
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
    /// Its ids in Judge0 Extra CE's API.
    #[serde(default)]
    judge0_extra: Option<Judge0Ids>,
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

fn looks_like_the_original_shape(table: &toml::Table) -> bool {
    table.iter().any(|(key, value)| {
        key.chars().all(|c| c.is_ascii_digit())
            && value
                .as_table()
                .is_some_and(|t| t.contains_key("entry") || t.contains_key("ext"))
    })
}

fn validate(entry: Entry, defaults: &Defaults) -> Result<Language, EntryError> {
    if entry.id == 0 {
        return Err(EntryError::IdZero);
    }
    if entry.name.trim().is_empty() {
        return Err(EntryError::NameEmpty);
    }
    check_image_name(&entry.image)?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if !plain(&entry.source) || entry.source.starts_with('.') {
        return Err(EntryError::Source(entry.source));
    }
    if entry.selftest.args.is_some() != entry.selftest.args_code.is_some() {
        return Err(EntryError::SelfTestArgs);
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
        return Err(EntryError::Sources);
    }
    let mut env = defaults.env.clone();
    env.extend(entry.env);
    for (name, value) in &env {
        if !is_env_name(name) || value.contains('\0') {
            return Err(EntryError::EnvName(name.clone()));
        }
    }
    if !env.contains_key("PATH") {
        return Err(EntryError::NoPath);
    }
    Ok(Language {
        id: entry.id,
        name: entry.name,
        toolchain: entry.toolchain,
        image: entry.image,
        source: entry.source,
        compile: entry.compile,
        run: entry.run,
        sources: entry.sources,
        several: entry.several.map(|s| (s.compile, s.run)),
        piston: entry.piston,
        rewrite: entry.rewrite,
        judge0: entry.judge0,
        judge0_extra: entry.judge0_extra,
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
fn check_command(argv: &[String], run: bool) -> Result<(), CommandError> {
    if argv
        .first()
        .is_none_or(|p| p.is_empty() || p.starts_with('{'))
    {
        return Err(CommandError::NoProgram);
    }
    for item in argv {
        let mut rest = item.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| CommandError::Unclosed(item.clone()))?;
            let placeholder = &rest[open..open + close + 1];
            match placeholder {
                PROGRAM_ARGS if !run => return Err(CommandError::RunOnly(PROGRAM_ARGS)),
                ARGS | SOURCES | SOURCE | ENTRY_STEM | PROGRAM_ARGS if item == placeholder => {}
                ARGS | SOURCES | SOURCE | ENTRY_STEM | PROGRAM_ARGS => {
                    return Err(CommandError::NotWhole {
                        placeholder: placeholder.to_owned(),
                        item: item.clone(),
                    })
                }
                other => {
                    return Err(CommandError::Unknown {
                        placeholder: other.to_owned(),
                        item: item.clone(),
                    })
                }
            }
            rest = &rest[open + close + 1..];
        }
    }
    Ok(())
}
