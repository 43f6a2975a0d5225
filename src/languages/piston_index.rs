//! Piston's package index (the `packages/` of engineer-man/piston at commit
//! 0a844d0, every package's newest version), as data: each language a
//! Piston client can name, with the package that provides it, and those
//! whipcode does not run, with the reason. A name counts as mapped when a
//! language of the map has it as its Piston name or an alias.

/// Every language of Piston's index: its name in Piston's API, and the
/// package that provides it.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("matl", "MATL"),
    ("bash", "bash"),
    ("befunge93", "befunge93"),
    ("bqn", "bqn"),
    ("brachylog", "brachylog"),
    ("brainfuck", "brainfuck"),
    ("cjam", "cjam"),
    ("clojure", "clojure"),
    ("cobol", "cobol"),
    ("coffeescript", "coffeescript"),
    ("cow", "cow"),
    ("crystal", "crystal"),
    ("dart", "dart"),
    ("dash", "dash"),
    ("typescript", "deno"),
    ("javascript", "deno"),
    ("basic.net", "dotnet"),
    ("fsharp.net", "dotnet"),
    ("csharp.net", "dotnet"),
    ("fsi", "dotnet"),
    ("dragon", "dragon"),
    ("elixir", "elixir"),
    ("emacs", "emacs"),
    ("emojicode", "emojicode"),
    ("erlang", "erlang"),
    ("file", "file"),
    ("forte", "forte"),
    ("forth", "forth"),
    ("freebasic", "freebasic"),
    ("awk", "gawk"),
    ("c", "gcc"),
    ("c++", "gcc"),
    ("d", "gcc"),
    ("fortran", "gcc"),
    ("go", "go"),
    ("golfscript", "golfscript"),
    ("groovy", "groovy"),
    ("haskell", "haskell"),
    ("husk", "husk"),
    ("iverilog", "iverilog"),
    ("japt", "japt"),
    ("java", "java"),
    ("jelly", "jelly"),
    ("julia", "julia"),
    ("kotlin", "kotlin"),
    ("lisp", "lisp"),
    ("llvm_ir", "llvm_ir"),
    ("lolcode", "lolcode"),
    ("lua", "lua"),
    ("csharp", "mono"),
    ("basic", "mono"),
    ("nasm", "nasm"),
    ("nasm64", "nasm"),
    ("nim", "nim"),
    ("javascript", "node"),
    ("ocaml", "ocaml"),
    ("octave", "octave"),
    ("osabie", "osabie"),
    ("paradoc", "paradoc"),
    ("pascal", "pascal"),
    ("perl", "perl"),
    ("php", "php"),
    ("ponylang", "ponylang"),
    ("prolog", "prolog"),
    ("pure", "pure"),
    ("powershell", "pwsh"),
    ("pyth", "pyth"),
    ("python2", "python"),
    ("python", "python"),
    ("racket", "racket"),
    ("raku", "raku"),
    ("retina", "retina"),
    ("rockstar", "rockstar"),
    ("rscript", "rscript"),
    ("ruby", "ruby"),
    ("rust", "rust"),
    ("samarium", "samarium"),
    ("scala", "scala"),
    ("smalltalk", "smalltalk"),
    ("sqlite3", "sqlite3"),
    ("swift", "swift"),
    ("typescript", "typescript"),
    ("vlang", "vlang"),
    ("vyxal", "vyxal"),
    ("yeethon", "yeethon"),
    ("zig", "zig"),
];

/// Piston's languages no language of the built-in map answers to, each with
/// why. The docs' language table lists them; a test keeps this list exact.
pub const ABSENT: &[(&str, &str)] = &[
    ("matl", "MATL is run by MATLAB or Octave from its author's repository; no registry reachable here packages it"),
    ("befunge93", "no Debian package; npm's befunge93 is a library published once (2025) with no command, not a maintained interpreter"),
    ("bqn", "CBQN is not packaged by Debian, npm or PyPI"),
    ("brachylog", "a SWI-Prolog program from its author's repository; no registry packages it"),
    ("cjam", "a Java program distributed from SourceForge; no registry reachable here packages it"),
    ("cow", "no Debian, npm or PyPI package"),
    ("dragon", "no Debian, npm or PyPI package"),
    ("emojicode", "its compiler is distributed from its own site; no registry reachable here packages it"),
    ("forte", "no Debian, npm or PyPI package"),
    ("freebasic", "FreeBASIC is not packaged by any Debian release (bullseye to sid checked) nor by npm or PyPI"),
    ("golfscript", "a Ruby script from its author's site; no registry packages it"),
    ("husk", "a Haskell program from its author's repository; not on Debian"),
    ("japt", "no npm package named japt, and no Debian one"),
    ("jelly", "installed from its author's repository; not on PyPI or Debian"),
    ("julia", "Debian 11's Julia 1.5.3, the only one any Debian release packages, needs /proc/cpuinfo, which the sandbox's /proc (processes only) does not show"),
    ("lolcode", "no Debian package; npm's lolcode is a LOLCODE-to-JavaScript parser published once (2025), not a maintained interpreter"),
    ("osabie", "an Elixir program from its author's repository; no registry packages it"),
    ("paradoc", "not on PyPI or Debian"),
    ("ponylang", "ponyc is not packaged by Debian, npm or PyPI"),
    ("powershell", "PowerShell comes from Microsoft's feeds and GitHub releases; not on Debian, npm or PyPI"),
    ("pure", "the Pure language is not packaged by Debian 11 to 13"),
    ("pyth", "PyPI's pyth is an unrelated text-markup library; the language is installed from its repository"),
    ("retina", "a .NET program from its author's repository; no registry packages it"),
    ("rockstar", "no Debian package; npm's rockstar is a small package published once (2025), not Satriani, the reference implementation"),
    ("samarium", "on PyPI (samarium 0.6.2, with crossandra's compiled wheel, dahlia and result), not added in this pass: its command takes no flags and reads stdin only by lines, so it needs its own self-test exceptions, left for later"),
    ("vlang", "V is not packaged by Debian, npm or PyPI"),
    ("vyxal", "PyPI's vyxal 2.22 wants Python 3.9 or 3.10 and NumPy 1.24 or later: Debian 12's Python is 3.11, Debian 11's NumPy 1.19"),
    ("yeethon", "a patched CPython from its author's repository; no registry packages it"),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{ABSENT, LANGUAGES};
    use crate::languages::LanguageMap;

    /// Every Piston name and alias of the built-in map.
    fn ours() -> BTreeSet<String> {
        let map = LanguageMap::load(None).unwrap();
        map.iter()
            .filter_map(|language| language.piston.as_ref())
            .flat_map(|piston| piston.all().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    fn absent() -> BTreeSet<&'static str> {
        ABSENT.iter().map(|(name, _)| *name).collect()
    }

    #[test]
    fn the_table_is_pistons_76_packages_and_the_languages_they_provide() {
        let packages: BTreeSet<_> = LANGUAGES.iter().map(|(_, package)| *package).collect();
        assert_eq!(packages.len(), 76);
        let pairs: BTreeSet<_> = LANGUAGES.iter().collect();
        assert_eq!(pairs.len(), LANGUAGES.len(), "a language listed twice");
    }

    #[test]
    fn every_piston_language_is_mapped_or_absent_with_a_reason() {
        let ours = ours();
        let absent = absent();
        for (name, package) in LANGUAGES {
            assert!(
                ours.contains(*name) || absent.contains(name),
                "Piston's {name} (package {package}) is neither mapped nor in ABSENT"
            );
        }
        let names: BTreeSet<_> = LANGUAGES.iter().map(|(name, _)| *name).collect();
        for (name, reason) in ABSENT {
            assert!(
                names.contains(name),
                "{name} is no language of Piston's index"
            );
            assert!(!reason.trim().is_empty(), "{name} is absent with no reason");
        }
        assert_eq!(absent.len(), ABSENT.len(), "a name listed twice in ABSENT");
    }

    #[test]
    fn pistons_names_reach_the_languages_its_users_mean() {
        let map = LanguageMap::load(None).unwrap();
        let by_name = |wanted: &str| {
            map.iter()
                .find(|l| {
                    l.piston
                        .as_ref()
                        .is_some_and(|p| p.all().any(|n| n == wanted))
                })
                .map(|l| l.name.as_str())
        };
        for (name, ours) in [
            ("prolog", "SWI-Prolog"),
            ("gprolog", "Prolog"),
            ("file", "Executable"),
            ("csharp.net", "C#"),
            ("sqlite3", "SQL"),
            ("python2", "Python 2"),
            ("basic", "VB.NET"),
        ] {
            assert_eq!(by_name(name), Some(ours), "{name}");
        }
    }

    #[test]
    fn no_piston_language_is_both_mapped_and_absent() {
        let ours = ours();
        let both: Vec<_> = absent()
            .into_iter()
            .filter(|name| ours.contains(*name))
            .collect();
        assert!(both.is_empty(), "mapped, yet listed as absent: {both:?}");
    }
}
