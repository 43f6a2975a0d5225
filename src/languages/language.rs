//! One language as the service runs it: its image, source file, steps with
//! their placeholders expanded, environment, limits and self-test programs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::api_names::{Judge0Ids, PistonName};
use super::rewrite::Rewrite;
use crate::naming::image_ref;

/// Placeholders of a step, each a whole element: the flags for the
/// compiler or interpreter (whipcode's `args`), and the entry file's name.
pub(super) const ARGS: &str = "{args}";
pub(super) const SOURCE: &str = "{source}";
/// The entry file and every other file with one of the language's
/// `sources` extensions.
pub(super) const SOURCES: &str = "{sources}";
/// The program's own arguments (Piston's `args`), in a run step; a run step
/// without it gets them at its end.
pub(super) const PROGRAM_ARGS: &str = "{program_args}";
/// The entry file's name without its directory and extension (a Java class).
pub(super) const ENTRY_STEM: &str = "{entry_stem}";

/// `^[A-Za-z_][A-Za-z0-9_]*$`: a name the map may reserve and a request
/// may set in a program's environment.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    /// Reads a line and prints it, written the way the language's own
    /// tutorial or documentation writes one (a `Module` in VB.NET, a
    /// `public class` in Java, top-level statements in C#).
    #[serde(default)]
    pub canonical: Option<String>,
}

pub use crate::sandbox::LimitOverrides;

/// What one run passes to a language's steps.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// `{args}`: flags for the compiler or interpreter (whipcode's `args`).
    pub tool_args: &'a [String],
    /// The program's own arguments (Piston's `args`).
    pub program_args: &'a [String],
    /// The entry file's name (the language's `source` unless a client
    /// named it): `{source}` stands for it.
    pub entry: &'a str,
    /// The job's other files.
    pub files: &'a [String],
}

impl<'a> Invocation<'a> {
    /// A run of `entry` alone, with no arguments.
    pub fn of(entry: &'a str) -> Invocation<'a> {
        Invocation {
            tool_args: &[],
            program_args: &[],
            entry,
            files: &[],
        }
    }
}

/// One language, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    pub id: u32,
    pub name: String,
    /// Its toolchain's version and where it comes from, as Markdown (``Python
    /// 3.11.2 (bookworm `python3`)``): documentation only, the version the
    /// docs' language table shows. Default: none.
    pub toolchain: Option<String>,
    /// Short image name, e.g. `python`.
    pub image: String,
    /// Source file name inside the working directory, e.g. `source.py`.
    pub source: String,
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    /// Extensions of the files `{sources}` stands for, besides the entry.
    pub sources: Vec<String>,
    /// Compile and run steps used instead when a job has more than one
    /// source file (e.g. Java: `javac` then `java`, not the source launcher).
    pub several: Option<(Option<Vec<String>>, Vec<String>)>,
    /// The complete environment of a run before the request's `env`.
    pub env: BTreeMap<String, String>,
    pub limits: LimitOverrides,
    /// Shown with the language in listings.
    pub notice: Option<String>,
    /// Its name and aliases in Piston's API, when it has them.
    pub piston: Option<PistonName>,
    /// Applied to the entry and each file with a `sources` extension.
    pub rewrite: Option<Rewrite>,
    /// Its ids in Judge0's API, when it has them.
    pub judge0: Option<Judge0Ids>,
    /// Its ids in Judge0 Extra CE's API (another list of languages under
    /// other ids), when it has them.
    pub judge0_extra: Option<Judge0Ids>,
    /// Its run step builds the program before running it (`go run`, `zig
    /// run`): a limit meant for the program alone (a file size) would stop
    /// the build, so such limits are not set on it.
    pub run_builds: bool,
    pub selftest: SelfTest,
}

impl Language {
    /// The image reference podman uses.
    pub fn image_ref(&self) -> String {
        image_ref(&self.image)
    }

    /// The argv steps of one run of the language's own source file with
    /// `args` for the tool, placeholders expanded.
    pub fn steps(&self, args: &[String]) -> Vec<Vec<String>> {
        let call = Invocation {
            tool_args: args,
            ..Invocation::of(&self.source)
        };
        self.stages(&call)
            .into_iter()
            .flat_map(|(_, steps)| steps)
            .collect()
    }

    /// The extension every entry file of this language has (`.py`), from its
    /// default source name.
    pub fn extension(&self) -> &str {
        self.source.rfind('.').map_or("", |dot| &self.source[dot..])
    }

    /// The stages of one run, placeholders expanded: `compile` (when the
    /// language has a compile step) and `run`, each with its argv steps.
    /// The job's other files with one of the language's source extensions
    /// are compiled with the entry, and when there are any, the language's
    /// `several` steps are used where it has them. A file name starting
    /// with `-` is given as `./-…`, so no tool reads it as an option.
    pub fn stages(&self, call: &Invocation<'_>) -> Vec<(&'static str, Vec<Vec<String>>)> {
        let as_operand = |name: &str| {
            if name.starts_with('-') {
                format!("./{name}")
            } else {
                name.to_owned()
            }
        };
        let entry = as_operand(call.entry);
        let mut sources = vec![entry.clone()];
        sources.extend(
            call.files
                .iter()
                .filter(|name| self.sources.iter().any(|ext| name.ends_with(ext.as_str())))
                .map(|name| as_operand(name)),
        );
        let stem = {
            let file = call.entry.rsplit('/').next().unwrap_or(call.entry);
            file.rfind('.').map_or(file, |dot| &file[..dot]).to_owned()
        };
        let (compile, run) = match &self.several {
            Some((compile, run)) if sources.len() > 1 => (compile.as_ref(), run),
            _ => (self.compile.as_ref(), &self.run),
        };
        let expand = |argv: &Vec<String>, program_args: Option<&[String]>| -> Vec<String> {
            let mut out = Vec::with_capacity(argv.len() + call.tool_args.len() + sources.len());
            let mut placed = false;
            for item in argv {
                match item.as_str() {
                    ARGS => out.extend(call.tool_args.iter().cloned()),
                    SOURCES => out.extend(sources.iter().cloned()),
                    SOURCE => out.push(entry.clone()),
                    ENTRY_STEM => out.push(stem.clone()),
                    PROGRAM_ARGS => {
                        out.extend(program_args.unwrap_or_default().iter().cloned());
                        placed = true;
                    }
                    _ => out.push(item.clone()),
                }
            }
            if let (Some(program_args), false) = (program_args, placed) {
                out.extend(program_args.iter().cloned());
            }
            out
        };
        let mut stages = Vec::with_capacity(2);
        if let Some(compile) = compile {
            stages.push(("compile", vec![expand(compile, None)]));
        }
        stages.push(("run", vec![expand(run, Some(call.program_args))]));
        stages
    }

    /// `files` (the entry first) as the language's project build would see
    /// them: its rewrite applied to the entry and to its other sources.
    pub fn rewrite_sources(&self, files: &mut [(String, Vec<u8>)]) {
        let Some(rewrite) = self.rewrite else {
            return;
        };
        for (i, (name, content)) in files.iter_mut().enumerate() {
            let source = i == 0 || self.sources.iter().any(|ext| name.ends_with(ext.as_str()));
            if let Some(rewritten) = source.then(|| rewrite.apply(content)).flatten() {
                *content = rewritten;
            }
        }
    }

    /// Variables a request may not set: everything the language defines.
    pub fn is_reserved_env(&self, name: &str) -> bool {
        self.env.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(id: u32) -> std::sync::Arc<Language> {
        crate::languages::LanguageMap::load(None)
            .unwrap()
            .get(id)
            .unwrap()
            .clone()
    }

    #[test]
    fn the_compile_and_run_stages_are_the_maps_steps() {
        let c = builtin(7);
        let flags = ["-DX".to_owned()];
        let stages = c.stages(&Invocation {
            tool_args: &flags,
            ..Invocation::of("source.c")
        });
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].0, "compile");
        assert!(stages[0].1[0].contains(&"-DX".to_owned()));
        assert_eq!(stages[1], ("run", vec![vec!["/tmp/a.out".to_owned()]]));
        assert_eq!(
            builtin(1).stages(&Invocation::of("source.py")).len(),
            1,
            "python only runs"
        );
    }

    #[test]
    fn other_source_files_are_compiled_with_the_entry_and_others_are_not() {
        let c = builtin(7);
        let files = [
            "util.c".to_owned(),
            "util.h".to_owned(),
            "lib/more.c".to_owned(),
        ];
        let compile = &c.stages(&Invocation {
            files: &files,
            ..Invocation::of("source.c")
        })[0]
            .1[0];
        let at = compile.iter().position(|a| a == "source.c").unwrap();
        assert_eq!(compile[at..at + 3], ["source.c", "util.c", "lib/more.c"]);
        assert!(
            !compile.contains(&"util.h".to_owned()),
            "headers are not compiled"
        );
    }

    #[test]
    fn every_builtin_language_has_a_program_as_its_users_write_it() {
        let map = crate::languages::LanguageMap::load(None).unwrap();
        // A plain text is not a program.
        for language in map.iter().filter(|l| l.name != "Plain Text") {
            let canonical = language.selftest.canonical.as_deref().unwrap_or_default();
            assert!(!canonical.trim().is_empty(), "{}", language.name);
        }
    }

    #[test]
    fn the_steps_get_the_entry_files_actual_name() {
        let python = builtin(1);
        let run = &python.stages(&Invocation::of("main.py"))[0].1[0];
        assert_eq!(run.last().unwrap(), "main.py");
    }

    #[test]
    fn several_java_files_are_compiled_by_javac_then_main_is_run() {
        let java = builtin(12);
        let single = java.stages(&Invocation::of("Main.java"));
        assert_eq!(single.len(), 1, "one file: the source launcher");
        let others = ["Greeter.java".to_owned()];
        let several = java.stages(&Invocation {
            files: &others,
            ..Invocation::of("Main.java")
        });
        assert_eq!(several[0].0, "compile");
        assert_eq!(several[0].1[0][0], "javac");
        assert!(several[0].1[0].ends_with(&["Main.java".into(), "Greeter.java".into()]));
        assert_eq!(several[1].1[0].last().unwrap(), "Main");
        // The class run is the entry's, whatever the client named it.
        let several = java.stages(&Invocation {
            files: &others,
            ..Invocation::of("app/Hello.java")
        });
        assert_eq!(several[1].1[0].last().unwrap(), "Hello");
    }

    #[test]
    fn the_programs_arguments_go_to_the_program_not_the_tool() {
        let program_args = ["1".to_owned(), "two words".to_owned()];
        let flags = ["-O0".to_owned()];
        let call = Invocation {
            tool_args: &flags,
            program_args: &program_args,
            ..Invocation::of("main.c")
        };
        let stages = builtin(7).stages(&call);
        assert!(stages[0].1[0].contains(&"-O0".to_owned()));
        assert!(
            !stages[0].1[0].contains(&"1".to_owned()),
            "not the compiler's"
        );
        assert_eq!(stages[1].1[0], ["/tmp/a.out", "1", "two words"]);
        let python = builtin(1).stages(&call);
        assert_eq!(
            python[0].1[0],
            ["python3", "-O0", "main.c", "1", "two words"]
        );
    }

    #[test]
    fn a_file_name_that_looks_like_an_option_is_given_as_a_path() {
        let run = &builtin(1).stages(&Invocation::of("-c.py"))[0].1[0];
        assert_eq!(run.last().unwrap(), "./-c.py");
    }

    #[test]
    fn env_names_follow_the_shell_rule() {
        assert!(is_env_name("A") && is_env_name("_") && is_env_name("a_1"));
        assert!(!is_env_name("1a") && !is_env_name("a.b") && !is_env_name("é"));
    }
}
