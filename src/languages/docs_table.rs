//! The language table of the book (`docs/src/languages.md`), generated from
//! the map so the two cannot drift apart: a row per language (its id, name,
//! toolchain, Judge0 ids and Piston name), then Judge0's active ids and
//! Piston's languages no language has, with why. The section sits between two marker comments;
//! `./task docs-table` rewrites it, and a test fails while it differs.

use super::api_names::{Judge0Ids, PistonName};
use super::{judge0_ce, piston_index};
use super::{Language, LanguageMap};

/// The line that opens the generated section.
pub const BEGIN: &str =
    "<!-- generated from langmap.toml by `./task docs-table`: do not edit by hand -->";
/// The line that closes it.
pub const END: &str = "<!-- end of the generated language table -->";

/// What a cell with nothing to show holds.
const NONE: &str = "—";

/// The whole generated section, from [`BEGIN`] to [`END`] (no newline
/// after it): the table, then the list of Judge0's ids no language has.
pub fn section(map: &LanguageMap) -> String {
    format!(
        "{BEGIN}\n\n{}\n{}\n{}\n{END}",
        markdown_table(map),
        absent_list(),
        piston_absent_list()
    )
}

/// One row per language of `map`, by id: id, name, toolchain, Judge0 ids
/// (the one Judge0's listing shows first) and Piston name (aliases in
/// parentheses). Each line ends with a newline.
pub fn markdown_table(map: &LanguageMap) -> String {
    let mut table = String::from(
        "| id | language | version (toolchain and source) | Judge0 ids | Piston name |\n\
         |---|---|---|---|---|\n",
    );
    for language in map.iter() {
        table.push_str(&row(language));
    }
    table
}

fn row(language: &Language) -> String {
    let cells = [
        language.id.to_string(),
        cell(&language.name),
        language.toolchain.as_deref().map_or(NONE.to_owned(), cell),
        language.judge0.as_ref().map_or(NONE.to_owned(), judge0_ids),
        language
            .piston
            .as_ref()
            .map_or(NONE.to_owned(), piston_name),
    ];
    format!("| {} |\n", cells.join(" | "))
}

/// Text as one table cell: a `|` would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn judge0_ids(ids: &Judge0Ids) -> String {
    let others = ids.ids.iter().filter(|id| **id != ids.shown);
    std::iter::once(&ids.shown)
        .chain(others)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn piston_name(name: &PistonName) -> String {
    let code = |name: &str| format!("`{}`", cell(name));
    let mut text = code(&name.language);
    if !name.aliases.is_empty() {
        let aliases: Vec<_> = name.aliases.iter().map(|alias| code(alias)).collect();
        text.push_str(&format!(" ({})", aliases.join(", ")));
    }
    text
}

/// Judge0 CE 1.13.1's active ids that no language has, each with its name
/// in Judge0 and why, as a Markdown list; each line ends with a newline.
pub fn absent_list() -> String {
    let mut list = String::from(
        "Judge0 CE 1.13.1's active languages (ids 43–89) that no language here has; \
         every other one is in the table:\n\n",
    );
    for (id, reason) in judge0_ce::ABSENT {
        let name = judge0_ce::name(*id).unwrap_or("not an active Judge0 id");
        list.push_str(&format!("- **{id}** {name}: {reason}.\n"));
    }
    list
}

/// The languages of Piston's package index that no language answers to,
/// each with why, as a Markdown list; each line ends with a newline.
pub fn piston_absent_list() -> String {
    let mut list = String::from(
        "Piston's languages (its package index) that no language here answers to, \
         by name or alias; every other one is in the table:\n\n",
    );
    for (name, reason) in piston_index::ABSENT {
        list.push_str(&format!("- **{name}**: {reason}.\n"));
    }
    list
}

/// `text` with its generated section (from the [`BEGIN`] line to the
/// [`END`] line) replaced by `section`; `None` when it has no such section.
pub fn replace_section(text: &str, section: &str) -> Option<String> {
    let start = text.find(BEGIN)?;
    let end = start + text[start..].find(END)? + END.len();
    Some(format!("{}{section}{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> LanguageMap {
        LanguageMap::load(None).unwrap()
    }

    #[test]
    fn each_language_is_a_row_with_its_shown_judge0_id_first() {
        let table = markdown_table(&builtin());
        let c = table.lines().find(|l| l.starts_with("| 7 |")).unwrap();
        assert_eq!(
            c,
            "| 7 | C | gcc 12.2 (bookworm) | 50, 49, 48 | `c` (`gcc`) |"
        );
        assert_eq!(table.lines().count(), 2 + builtin().len());
    }

    #[test]
    fn every_built_in_language_has_a_toolchain_for_the_table() {
        for language in builtin().iter() {
            let toolchain = language.toolchain.as_deref().unwrap_or_default();
            assert!(!toolchain.trim().is_empty(), "{}", language.name);
        }
    }

    #[test]
    fn a_language_without_a_piston_name_shows_a_dash() {
        let table = markdown_table(&builtin());
        let plain = table.lines().find(|l| l.starts_with("| 30 |")).unwrap();
        assert!(plain.ends_with("| 43 | — |"), "{plain}");
    }

    #[test]
    fn the_absent_ids_are_listed_with_judge0s_name_and_the_reason() {
        let list = absent_list();
        for (id, reason) in judge0_ce::ABSENT {
            let name = judge0_ce::name(*id).unwrap();
            assert!(list.contains(&format!("- **{id}** {name}: {reason}.\n")));
        }
    }

    #[test]
    fn only_the_section_between_the_markers_is_replaced() {
        let text = format!("before\n{BEGIN}\nold\n{END}\nafter\n");
        let new = format!("{BEGIN}\nnew\n{END}");
        assert_eq!(
            replace_section(&text, &new).unwrap(),
            format!("before\n{BEGIN}\nnew\n{END}\nafter\n")
        );
        assert_eq!(replace_section("no markers", &new), None);
    }

    #[test]
    fn a_pipe_in_a_cell_does_not_end_it() {
        assert_eq!(cell("a | b"), "a \\| b");
    }
}
