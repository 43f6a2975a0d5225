//! Judge0 CE 1.13.1's active languages (`db/languages/active.rb` at
//! judge0 v1.13.1), as data: what the map's Judge0 ids are checked against,
//! and which of them whipcode does not run, with the reason.
//!
//! Judge0's archived languages have ids 1–42; the active ones, these, 43–89.

/// Every active language of Judge0 CE 1.13.1: its id and its name, exactly
/// as Judge0 lists it.
pub const ACTIVE: &[(u32, &str)] = &[
    (43, "Plain Text"),
    (44, "Executable"),
    (45, "Assembly (NASM 2.14.02)"),
    (46, "Bash (5.0.0)"),
    (47, "Basic (FBC 1.07.1)"),
    (48, "C (GCC 7.4.0)"),
    (49, "C (GCC 8.3.0)"),
    (50, "C (GCC 9.2.0)"),
    (51, "C# (Mono 6.6.0.161)"),
    (52, "C++ (GCC 7.4.0)"),
    (53, "C++ (GCC 8.3.0)"),
    (54, "C++ (GCC 9.2.0)"),
    (55, "Common Lisp (SBCL 2.0.0)"),
    (56, "D (DMD 2.089.1)"),
    (57, "Elixir (1.9.4)"),
    (58, "Erlang (OTP 22.2)"),
    (59, "Fortran (GFortran 9.2.0)"),
    (60, "Go (1.13.5)"),
    (61, "Haskell (GHC 8.8.1)"),
    (62, "Java (OpenJDK 13.0.1)"),
    (63, "JavaScript (Node.js 12.14.0)"),
    (64, "Lua (5.3.5)"),
    (65, "OCaml (4.09.0)"),
    (66, "Octave (5.1.0)"),
    (67, "Pascal (FPC 3.0.4)"),
    (68, "PHP (7.4.1)"),
    (69, "Prolog (GNU Prolog 1.4.5)"),
    (70, "Python (2.7.17)"),
    (71, "Python (3.8.1)"),
    (72, "Ruby (2.7.0)"),
    (73, "Rust (1.40.0)"),
    (74, "TypeScript (3.7.4)"),
    (75, "C (Clang 7.0.1)"),
    (76, "C++ (Clang 7.0.1)"),
    (77, "COBOL (GnuCOBOL 2.2)"),
    (78, "Kotlin (1.3.70)"),
    (79, "Objective-C (Clang 7.0.1)"),
    (80, "R (4.0.0)"),
    (81, "Scala (2.13.2)"),
    (82, "SQL (SQLite 3.27.2)"),
    (83, "Swift (5.2.3)"),
    (84, "Visual Basic.Net (vbnc 0.0.0.5943)"),
    (85, "Perl (5.28.1)"),
    (86, "Clojure (1.10.1)"),
    (87, "F# (.NET Core SDK 3.1.202)"),
    (88, "Groovy (3.0.3)"),
    (89, "Multi-file program"),
];

/// The active Judge0 ids no language of the built-in map has, each with
/// why. The docs' language table lists them; a test keeps this list and the
/// map in step (every other active id is mapped).
pub const ABSENT: &[(u32, &str)] = &[(
    47,
    "FreeBASIC is not packaged by any Debian release (checked bookworm, trixie \
         and sid on deb.debian.org), and no registry reachable here ships it",
)];

/// Judge0's name for an active id.
pub fn name(id: u32) -> Option<&'static str> {
    ACTIVE
        .iter()
        .find(|(active, _)| *active == id)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{name, ABSENT, ACTIVE};
    use crate::languages::LanguageMap;

    /// Each Judge0 id of the built-in map, once per language that has it.
    fn mapped() -> Vec<u32> {
        let map = LanguageMap::load(None).unwrap();
        map.iter()
            .flat_map(|language| language.judge0.iter().flat_map(|j| j.ids.clone()))
            .collect()
    }

    fn absent() -> BTreeSet<u32> {
        ABSENT.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn the_table_is_judge0_ce_1_13_1s_47_active_ids_in_order() {
        let ids: Vec<u32> = ACTIVE.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (43..=89).collect::<Vec<_>>());
        assert_eq!(name(70), Some("Python (2.7.17)"));
    }

    #[test]
    fn every_judge0_ce_active_id_is_mapped_or_absent_with_a_reason() {
        let mapped = mapped();
        let absent = absent();
        for (id, judge0s) in ACTIVE {
            let times = mapped.iter().filter(|m| *m == id).count();
            match (times, absent.contains(id)) {
                (1, false) | (0, true) => {}
                (0, false) => panic!("{id} ({judge0s}) is neither mapped nor in ABSENT"),
                (n, _) => panic!("{id} ({judge0s}) is mapped {n} times"),
            }
        }
        for (id, reason) in ABSENT {
            assert!(name(*id).is_some(), "{id} is no active Judge0 id");
            assert!(!reason.trim().is_empty(), "{id} is absent with no reason");
        }
        assert_eq!(absent.len(), ABSENT.len(), "an id listed twice in ABSENT");
    }

    #[test]
    fn no_judge0_id_is_both_mapped_and_absent() {
        let mapped: BTreeSet<u32> = mapped().into_iter().collect();
        let both: Vec<_> = absent().intersection(&mapped).copied().collect();
        assert!(both.is_empty(), "mapped, yet listed as absent: {both:?}");
    }

    #[test]
    fn at_least_44_of_judge0s_47_active_ids_are_mapped() {
        let active: BTreeSet<u32> = ACTIVE.iter().map(|(id, _)| *id).collect();
        let mapped: BTreeSet<u32> = mapped().into_iter().collect();
        let count = active.intersection(&mapped).count();
        assert_eq!(count, ACTIVE.len() - ABSENT.len());
        assert!(count >= 44, "only {count} of {} mapped", ACTIVE.len());
    }
}
