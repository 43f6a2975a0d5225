//! What can be wrong with a language map, from the file as a whole down to
//! one command or recipe. Each message names what is wrong where the map's
//! author can find it: the file, then the image or language (by id), then
//! the field.

use std::path::PathBuf;

/// Why the language map could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    #[error("cannot read language map {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("language map {origin}: {source}")]
    Invalid {
        origin: String,
        source: Box<MapError>,
    },
}

/// What is wrong in a map file's text.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Not TOML.
    #[error("{0}")]
    Syntax(#[source] toml::de::Error),
    /// The original whipcode's shape; the message shows the new one.
    #[error("{}", ORIGINAL_SHAPE_HELP)]
    OriginalShape,
    /// TOML, but not the map's schema (an unknown field, a wrong type).
    #[error("{0}")]
    Schema(#[source] toml::de::Error),
    #[error("an [[image]] entry needs a name")]
    ImageWithoutName,
    #[error("image {name}: {source}")]
    ImageSchema {
        name: String,
        source: toml::de::Error,
    },
    #[error("image {name}: {source}")]
    Image { name: String, source: RecipeError },
    #[error("image {0} appears twice")]
    ImageTwice(String),
    #[error("language {id}: recipe: {source}")]
    LanguageRecipe { id: u32, source: RecipeError },
    #[error("language {id}: image {image} has a recipe here and elsewhere")]
    RecipeTwice { id: u32, image: String },
    #[error("language {id}: {source}")]
    Language { id: u32, source: EntryError },
    #[error("language name {0} appears twice")]
    NameTwice(String),
    #[error("language {id}: Piston name or alias {name:?} is taken")]
    PistonNameTaken { id: u32, name: String },
    #[error("language {id}: {field}.shown {shown} is not one of its ids")]
    Judge0Shown {
        id: u32,
        field: &'static str,
        shown: u32,
    },
    #[error("language {id}: {field} id {taken} is taken")]
    Judge0IdTaken {
        id: u32,
        field: &'static str,
        taken: u32,
    },
    #[error("language id {0} appears twice")]
    IdTwice(u32),
    #[error("no [[language]] entries")]
    NoLanguages,
    #[error("language {id}: image {image} has no recipe ([[image]] or [language.recipe])")]
    NoRecipe { id: u32, image: String },
    #[error(transparent)]
    Order(#[from] BuildOrderError),
}

/// What is wrong in one `[[language]]` entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("id must be 1 or more")]
    IdZero,
    #[error("name is empty")]
    NameEmpty,
    #[error(transparent)]
    Image(#[from] ImageNameError),
    #[error("source {0:?} must be a plain file name")]
    Source(String),
    #[error("selftest: args and args_code go together")]
    SelfTestArgs,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("sources: extensions such as \".c\"")]
    Sources,
    #[error("bad environment variable {0:?}")]
    EnvName(String),
    #[error("the environment needs PATH (set it in [defaults.env])")]
    NoPath,
}

/// What is wrong in one command (an argv list) of a language.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("a command must start with a program name")]
    NoProgram,
    #[error("unclosed placeholder in {0:?}")]
    Unclosed(String),
    #[error("{0} belongs in a run step only")]
    RunOnly(&'static str),
    #[error("{placeholder} must be a whole element, not part of {item:?}")]
    NotWhole { placeholder: String, item: String },
    #[error("unknown placeholder {placeholder} in {item:?}")]
    Unknown { placeholder: String, item: String },
}

/// What is wrong in an image's recipe.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("needs exactly one of debootstrap, from (+ packages), containerfile")]
    Forms,
    #[error("packages go with from")]
    PackagesWithoutFrom,
    #[error("fetch goes with containerfile")]
    FetchWithoutContainerfile,
    #[error("fetch {0:?}: needs an https url, a 64-hex-digit sha256 and a plain file name")]
    Fetch(String),
    #[error("bad package name {0:?}")]
    Package(String),
    #[error("bad suite {0:?}")]
    Suite(String),
    #[error(transparent)]
    ImageName(#[from] ImageNameError),
}

/// An image name that is not lower-case letters, digits, '-', '_' or '.'.
#[derive(Debug, thiserror::Error)]
#[error("image {0:?} must be lower-case letters, digits, '-', '_' or '.'")]
pub struct ImageNameError(pub String);

/// Why images cannot be put in build order.
#[derive(Debug, thiserror::Error)]
pub enum BuildOrderError {
    #[error("images build on each other in a cycle: {} -> {name}", path.join(" -> "))]
    Cycle { path: Vec<String>, name: String },
    #[error("image {0} has no recipe")]
    NoRecipe(String),
}

/// A language asked for by id, name or image that the map does not have.
#[derive(Debug, thiserror::Error)]
#[error("no language {0:?} in the language map")]
pub struct UnknownLanguage(pub String);

const ORIGINAL_SHAPE_HELP: &str = "this is the original whipcode's shape ([1] entry = \"python\", \
ext = \"py\"); whipcode-rs keeps each language in one entry, e.g.\n\n\
[[language]]\nid = 1\nname = \"Python\"\nimage = \"python\"\nsource = \"source.py\"\n\
run = [\"python3\", \"{args}\", \"{source}\"]\n\
recipe = { from = \"base\", packages = [\"python3\"] }\n\
selftest = { hello = \"print('Success!')\" }\n";
