//! One language as the service runs it: its image, source file, steps with
//! their placeholders expanded, environment, limits and self-test programs.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::naming::image_ref;

/// Placeholders of a step: the request's args (a whole element) and the source file name.
pub(super) const ARGS: &str = "{args}";
pub(super) const SOURCE: &str = "{source}";

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

    /// The stages of one run, placeholders expanded: `compile` (when the
    /// language has a compile step) and `run`, each with its argv steps.
    pub fn stages(&self, args: &[String]) -> Vec<(&'static str, Vec<Vec<String>>)> {
        let mut steps = self.steps(args).into_iter();
        let mut stages = Vec::with_capacity(2);
        if self.compile.is_some() {
            stages.push(("compile", steps.next().into_iter().collect()));
        }
        stages.push(("run", steps.collect()));
        stages
    }

    /// Variables a request may not set: everything the language defines.
    pub fn is_reserved_env(&self, name: &str) -> bool {
        self.env.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_shell_rule() {
        assert!(is_env_name("A") && is_env_name("_") && is_env_name("a_1"));
        assert!(!is_env_name("1a") && !is_env_name("a.b") && !is_env_name("é"));
    }
}
