//! The language map: every language by id and every image's recipe by name,
//! loaded from a file or the built-in one, with the image build order and
//! the lookups the service and the builder make.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::error::{BuildOrderError, LanguageError, MapError, UnknownLanguage};
use super::file;
use super::language::Language;
use super::recipe::Recipe;

/// The map read from the working directory when none is configured.
pub const DEFAULT_FILE: &str = "langmap.toml";
/// The map compiled into the binary.
pub const BUILT_IN: &str = include_str!("../../langmap.toml");

/// All languages by id, and the recipes of their images by name.
#[derive(Debug, Clone, Default)]
pub struct LanguageMap {
    by_id: BTreeMap<u32, Arc<Language>>,
    images: BTreeMap<String, Arc<Recipe>>,
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
        let invalid = |source: MapError| LanguageError::Invalid {
            origin: origin.to_owned(),
            source: Box::new(source),
        };
        let (images, by_id) = file::read(text).map_err(invalid)?;
        let map = LanguageMap { by_id, images };
        map.check_images().map_err(invalid)?;
        Ok(map)
    }

    /// Every image named has a recipe, and recipes build on each other without cycles.
    fn check_images(&self) -> Result<(), MapError> {
        for lang in self.iter() {
            if !self.images.contains_key(&lang.image) {
                return Err(MapError::NoRecipe {
                    id: lang.id,
                    image: lang.image.clone(),
                });
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
    pub fn build_order(&self, images: &[String]) -> Result<Vec<String>, BuildOrderError> {
        fn visit(
            map: &LanguageMap,
            name: &str,
            path: &mut Vec<String>,
            out: &mut Vec<String>,
        ) -> Result<(), BuildOrderError> {
            if out.iter().any(|n| n == name) {
                return Ok(());
            }
            if path.iter().any(|n| n == name) {
                return Err(BuildOrderError::Cycle {
                    path: path.clone(),
                    name: name.to_owned(),
                });
            }
            let recipe = map
                .images
                .get(name)
                .ok_or_else(|| BuildOrderError::NoRecipe(name.to_owned()))?;
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
    pub fn select(&self, wanted: &[String]) -> Result<Vec<Arc<Language>>, UnknownLanguage> {
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
                    .ok_or_else(|| UnknownLanguage(w.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for id in 1..=28 {
            assert!(map.get(id).is_some(), "the original's id {id}");
        }
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
            // A plain text reads no stdin; neither it nor an executable has
            // a tool to take flags.
            let (echo, args) = match lang.name.as_str() {
                "Plain Text" => (false, false),
                "Executable" => (true, false),
                // gst's flags change only what gst prints of itself (-r,
                // -q, -g) or which files it loads: nothing a program reads.
                "Smalltalk" => (true, false),
                _ => (true, true),
            };
            assert_eq!(t.echo.is_some(), echo, "{}'s echo", lang.name);
            assert_eq!(t.args.is_some(), args, "{}'s args", lang.name);
            assert_eq!(t.args_code.is_some(), args, "{}'s args", lang.name);
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
    fn a_piston_name_or_alias_used_twice_is_refused() {
        let lang = |id: u32, piston: &str| {
            format!(
                "\n[[language]]\nid = {id}\nname = \"L{id}\"\nimage = \"c\"\nsource = \"a.c\"\n\
                 run = [\"cc\"]\npiston = {piston}\nselftest = {{ hello = \"x\" }}\n"
            )
        };
        let one = lang(30, r#"{ language = "cc", aliases = ["k"] }"#);
        let other = lang(31, r#"{ language = "dd", aliases = ["k"] }"#);
        assert!(parse_err(&format!("{MINI}{one}{other}")).contains("\"k\" is taken"));
        let fine = lang(31, r#"{ language = "dd" }"#);
        assert!(LanguageMap::parse(&format!("{MINI}{one}{fine}"), "test").is_ok());
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
        assert!(map.select(&["intercal".into()]).is_err());
    }
}
