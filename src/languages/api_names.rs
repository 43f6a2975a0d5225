//! A language's names and ids in the other APIs whipcode speaks: Piston's
//! name and aliases, Judge0's ids.

use serde::Deserialize;

/// A language's name and aliases in Piston's API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PistonName {
    pub language: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl PistonName {
    /// The name, then the aliases.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.language.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// A language's ids in Judge0's API (or Judge0 Extra CE's): every Judge0
/// id that means it, and the one the SDK's alias names (`GET /languages`
/// lists them all). A language Judge0 lacks has an id of
/// our own, from 1000 (Judge0's, active and archived, are below 100).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judge0Ids {
    pub ids: Vec<u32>,
    pub shown: u32,
    /// Judge0's "Multi-file program" (`is_project`): a submission has no
    /// `source_code`, and its `additional_files` hold every file, the
    /// language's source among them. Default `false`.
    #[serde(default)]
    pub project: bool,
    /// The name Judge0 lists it under, when not `<name> (<version>)`:
    /// Judge0's Plain Text, Executable and Multi-file program have no
    /// version. Default: none.
    #[serde(default)]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::languages::{judge0_ce, LanguageMap};

    /// `theirs` starts with the name `ours`, and not with a longer one
    /// (C is not C++, C# or Clojure; R is not Ruby).
    fn starts_with_name(theirs: &str, ours: &str) -> bool {
        theirs.strip_prefix(ours).is_some_and(|rest| {
            !rest.starts_with(|c: char| c.is_alphanumeric() || "+#".contains(c))
        })
    }

    #[test]
    fn judge0_ids_are_judge0_ce_1_13_1_ones_of_the_same_language_or_our_own() {
        // Judge0's name starts with ours, but for the few we write otherwise.
        let ours = |name: &str| {
            match name {
                "x86 Assembly" => "Assembly",
                "VB.NET" => "Visual Basic.Net",
                "C (Clang)" => "C (Clang",
                "C++ (Clang)" => "C++ (Clang",
                "Python 2" => "Python (2",
                "Python" => "Python (3",
                other => other,
            }
            .to_owned()
        };
        let map = LanguageMap::load(None).unwrap();
        for language in map.iter() {
            let ids = language
                .judge0
                .as_ref()
                .expect("every language has a Judge0 id");
            for id in &ids.ids {
                match judge0_ce::name(*id) {
                    Some(theirs) => assert!(
                        starts_with_name(theirs, &ours(&language.name)),
                        "{id} is {theirs}, not {}",
                        language.name
                    ),
                    None => assert_eq!(*id, 1000 + language.id, "{}: {id}", language.name),
                }
            }
        }
    }

    #[test]
    fn judge0_extra_ids_are_extra_ce_1_13_1_ones_of_the_same_language() {
        // Judge0 Extra CE 1.13.1's active languages we map, by our names (db/languages/active.rb
        // at judge0 v1.13.1-extra); its C and C++ are Clang's, its Python the
        // one with the ML libraries.
        let extra: BTreeMap<u32, &str> = [
            (1, "C"),
            (2, "C++"),
            (4, "Java"),
            (9, "Nim"),
            (10, "Python (NumPy, pandas, SciPy)"),
            (13, "C"),
            (14, "C++"),
            (20, "VB.NET"),
            (22, "C#"),
            (24, "F#"),
            (89, "Multi-file program"),
        ]
        .into_iter()
        .collect();
        let map = LanguageMap::load(None).unwrap();
        let mut mapped = BTreeMap::new();
        for language in map.iter() {
            for id in language.judge0_extra.iter().flat_map(|j| &j.ids) {
                let theirs = extra
                    .get(id)
                    .unwrap_or_else(|| panic!("{id} is not Extra CE's"));
                assert_eq!(&language.name, theirs, "Extra CE id {id}");
                mapped.insert(*id, language.name.clone());
            }
        }
        let missing: Vec<_> = extra.keys().filter(|id| !mapped.contains_key(id)).collect();
        assert!(missing.is_empty(), "unmapped Extra CE ids {missing:?}");
    }

    #[test]
    fn every_builtin_language_has_a_piston_name_but_judge0s_special_ones() {
        // Piston has no package for Judge0's Plain Text and Multi-file
        // program: they are Judge0's alone. (Judge0's Executable is
        // Piston's "file".)
        let special = [43, 89];
        let map = LanguageMap::load(None).unwrap();
        for language in map.iter() {
            let judge0 = language.judge0.as_ref().unwrap();
            let is_special = judge0.ids.iter().any(|id| special.contains(id));
            assert_eq!(language.piston.is_none(), is_special, "{}", language.name);
        }
        let c = map.get(7).unwrap().piston.clone().unwrap();
        assert_eq!(c.all().collect::<Vec<_>>(), ["c", "gcc"]);
    }
}
