//! A [`Judge0Submission`] checked into a [`Submission`]: every field's rule
//! run, its errors gathered (Judge0 answers them all at once), then the job
//! built in the server's terms.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::body::{Judge0Submission, Options};
use super::errors::Errors;
use super::source;
use super::submission::{Chosen, Submission};
use crate::api::job::{Job, StageLimits};
use crate::api::judge0::config::Config;
use crate::api::judge0::error::Judge0Error;
use crate::api::judge0::flavor::Flavor;
use crate::api::state::AppState;
use crate::languages::Language;

/// What checking a submission needs besides its body.
pub struct Context<'a> {
    pub state: &'a AppState,
    /// Whose ids `language_id` is one of.
    pub flavor: Flavor,
    pub config: &'a Config,
    /// The texts are base64.
    pub base64_encoded: bool,
    /// What is left of the request's unpacking budget
    /// ([`REQUEST_BUDGET`](crate::api::judge0::files::REQUEST_BUDGET)); an
    /// archive's files are taken from it.
    pub budget: u64,
}

/// A field's rule run (the body's method of the field's name), its error
/// recorded under the field's name.
macro_rules! check {
    ($errors:expr, $body:ident . $field:ident ( $($arg:expr),* )) => {
        $errors.check(stringify!($field), $body.$field($($arg),*))
    };
}

/// This unpacks archives: run it off the async runtime (see
/// [`prepare_all`](super::prepare_all)).
impl TryFrom<(Judge0Submission, &mut Context<'_>)> for Submission {
    type Error = Judge0Error;

    fn try_from(
        (body, cx): (Judge0Submission, &mut Context<'_>),
    ) -> Result<Submission, Judge0Error> {
        let mut errors = Errors::default();
        let checked = Checked::of(&body, cx, &mut errors);
        let language = checked.language.as_ref().map(|(_, l)| l.as_ref());
        let files = source::job_files(
            language,
            checked.source_code.as_ref(),
            &body.additional_files,
            cx.state.max_files,
            &mut cx.budget,
            &mut errors,
        );
        // Every missing piece has its error; none is trusted to (no panic).
        match (files, checked.language.clone()) {
            (Some(files), Some(language)) if errors.is_empty() => {
                Ok(checked.into_submission(language, files, cx))
            }
            _ => Err(Judge0Error::Fields(errors.0)),
        }
    }
}

/// Reads and checks one submission (`body`, a JSON object) against the
/// server's `config`, taking its archive's files from `budget`.
pub fn prepare(
    state: &AppState,
    flavor: Flavor,
    config: &Config,
    body: &Value,
    base64_encoded: bool,
    budget: &mut u64,
) -> Result<Submission, Judge0Error> {
    let body = Judge0Submission::from_body(body.clone())?;
    let mut cx = Context {
        state,
        flavor,
        config,
        base64_encoded,
        budget: *budget,
    };
    let submission = Submission::try_from((body, &mut cx));
    *budget = cx.budget;
    submission
}

/// A submission's fields as its rules give them (a field in error: its
/// default, never used, since the submission is then refused).
struct Checked {
    language: Option<(u32, Arc<Language>)>,
    source_code: Option<Vec<u8>>,
    stdin: Vec<u8>,
    expected_output: Option<Vec<u8>>,
    redirect_stderr_to_stdout: bool,
    limits: Chosen,
    compiler_options: Option<Options>,
    command_line_arguments: Option<Options>,
}

impl Checked {
    fn of(body: &Judge0Submission, cx: &Context<'_>, errors: &mut Errors) -> Checked {
        let (config, base64_encoded) = (cx.config, cx.base64_encoded);
        let language = check!(errors, body.language_id())
            .and_then(|id| language(cx.state, cx.flavor, id, errors));
        let compiler_options = check!(errors, body.compiler_options());
        // Judge0 skips the check for a blank value (`compiler_options.blank?`):
        // its IDE always sends `""`.
        if let (Some((_, language)), Some((text, _))) = (&language, &compiler_options) {
            if !has_compile_cmd(language) && !text.trim().is_empty() {
                errors.add(
                    "compiler_options",
                    "setting compiler options is only allowed for compiled languages",
                );
            }
        }
        check!(errors, body.enable_network());
        check!(errors, body.enable_per_process_and_thread_time_limit());
        check!(errors, body.enable_per_process_and_thread_memory_limit());
        Checked {
            language,
            source_code: check!(errors, body.source_code(base64_encoded)),
            stdin: check!(errors, body.stdin(base64_encoded)),
            expected_output: check!(errors, body.expected_output(base64_encoded)),
            redirect_stderr_to_stdout: check!(errors, body.redirect_stderr_to_stdout()),
            limits: limits(body, config, errors),
            compiler_options,
            command_line_arguments: check!(errors, body.command_line_arguments()),
        }
    }

    fn into_submission(
        self,
        (language_id, language): (u32, Arc<Language>),
        files: source::Files,
        cx: &Context<'_>,
    ) -> Submission {
        let limits = self.limits;
        let seconds = |s: f64| Duration::from_secs_f64(s.max(0.001));
        let words = |o: &Option<Options>| o.as_ref().map(|o| o.1.clone()).unwrap_or_default();
        let job = Job {
            language: language.clone(),
            files,
            tool_args: words(&self.compiler_options),
            program_args: words(&self.command_line_arguments),
            stdin: self.stdin.clone(),
            env: language
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            compile: StageLimits::timeout(cx.config.compile_timeout()),
            run: StageLimits {
                timeout: seconds(limits.wall_time_limit),
                cpu_time: Some(seconds(limits.cpu_time_limit + limits.cpu_extra_time)),
                memory_mb: Some(limits.memory_limit.div_ceil(1024)),
                // A run step that builds first (Go, Zig) writes a binary
                // larger than Judge0's file size limit meant for the program.
                file_size: (!language.run_builds).then_some(limits.max_file_size * 1024),
                stack: Some(limits.stack_limit * 1024),
                stderr_to_stdout: self.redirect_stderr_to_stdout,
            },
            runs: u32::try_from(limits.number_of_runs).unwrap_or(1),
            processes: (limits.max_processes_and_or_threads
                != cx.config.max_processes_and_or_threads)
                .then(|| u32::try_from(limits.max_processes_and_or_threads).unwrap_or(u32::MAX)),
        };
        let project = source::is_project(&language);
        Submission {
            job,
            language,
            language_id,
            flavor: cx.flavor,
            // A project's files are its archive's (Judge0 shows no source).
            source_code: self.source_code.filter(|_| !project),
            stdin: self.stdin,
            expected_output: self.expected_output,
            redirect_stderr_to_stdout: self.redirect_stderr_to_stdout,
            limits,
            compiler_options: self.compiler_options.map(|o| o.0),
            command_line_arguments: self.command_line_arguments.map(|o| o.0),
            callback_url: None,
        }
    }
}

/// The limits asked for, in Judge0's units.
fn limits(body: &Judge0Submission, config: &Config, errors: &mut Errors) -> Chosen {
    // A CPU limit of 0 is no limit of its own (isolate's `-t 0`): the
    // server's maximum holds.
    let cpu_time_limit = match check!(errors, body.cpu_time_limit(config)) {
        0.0 => config.max_cpu_time_limit,
        limit => limit,
    };
    Chosen {
        cpu_time_limit,
        cpu_extra_time: check!(errors, body.cpu_extra_time(config)),
        wall_time_limit: check!(errors, body.wall_time_limit(config)),
        memory_limit: check!(errors, body.memory_limit(config)) as u64,
        stack_limit: check!(errors, body.stack_limit(config)) as u64,
        max_processes_and_or_threads: check!(errors, body.max_processes_and_or_threads(config))
            as u64,
        max_file_size: check!(errors, body.max_file_size(config)) as u64,
        number_of_runs: check!(errors, body.number_of_runs(config)) as u64,
    }
}

/// The language `id` names in `flavor` (none: an error of `language_id`).
fn language(
    state: &AppState,
    flavor: Flavor,
    id: i64,
    errors: &mut Errors,
) -> Option<(u32, Arc<Language>)> {
    let found = u32::try_from(id)
        .ok()
        .and_then(|id| Some((id, judge0_language(state, flavor, id)?)));
    if found.is_none() {
        errors.add(
            "language_id",
            format!("language with id {id} doesn't exist"),
        );
    }
    found
}

/// Judge0's `compile_cmd`: the language compiles with a step of its own. A
/// multi-file program's compile is the program's own script, so Judge0
/// takes no compiler options for it, as for an interpreted language.
fn has_compile_cmd(language: &Language) -> bool {
    language.compile.is_some() && !source::is_project(language)
}

/// The language one of whose ids in `flavor` is `id`.
pub fn judge0_language(state: &AppState, flavor: Flavor, id: u32) -> Option<Arc<Language>> {
    state
        .languages
        .iter()
        .find(|l| flavor.means(l, id))
        .cloned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::judge0::files::REQUEST_BUDGET;

    fn checked(body: Value) -> Result<Submission, Judge0Error> {
        let state = AppState::for_tests();
        let config = Config::of(&state, None);
        prepare(&state, Flavor::Ce, &config, &body, false, &mut {
            REQUEST_BUDGET
        })
    }

    #[test]
    fn every_fields_errors_come_at_once_in_judge0s_words() {
        let body = json!({
            "language_id": "abc", "stdin": 5, "cpu_extra_time": 99, "memory_limit": 1,
            "number_of_runs": 0, "max_processes_and_or_threads": -1, "wall_time_limit": "x",
            "enable_network": true, "redirect_stderr_to_stdout": "yes", "compiler_options": "'",
        });
        let Err(Judge0Error::Fields(errors)) = checked(body) else {
            panic!("accepted")
        };
        let floor = crate::sandbox::MEMORY_FLOOR_MB * 1024;
        assert_eq!(
            serde_json::to_value(errors).unwrap(),
            json!({
                "language_id": ["is not a number"],
                "stdin": ["must be a string"],
                "source_code": ["can't be blank"],
                "cpu_extra_time": ["must be less than or equal to 5"],
                "memory_limit": [format!("must be greater than or equal to {floor} (the sandbox's floor: a smaller limit cannot be told from a broken sandbox)")],
                "number_of_runs": ["must be greater than 0"],
                "max_processes_and_or_threads": ["must be greater than 0"],
                "wall_time_limit": ["is not a number"],
                "enable_network": ["enabling network is not allowed"],
                "redirect_stderr_to_stdout": ["must be true or false"],
                "compiler_options": ["has an unmatched quote"],
            })
        );
    }

    #[test]
    fn numbers_and_switches_may_come_as_strings_as_rails_casts_them() {
        let body = json!({
            "language_id": " 71 ", "source_code": "print(1)", "cpu_extra_time": "0.5",
            "memory_limit": "200000.7", "redirect_stderr_to_stdout": "true", "stdin": null,
        });
        let submission = checked(body).unwrap();
        assert_eq!(submission.language_id, 71);
        assert_eq!(submission.limits.cpu_extra_time, 0.5);
        assert_eq!(submission.limits.memory_limit, 200_000);
        assert!(submission.redirect_stderr_to_stdout && submission.stdin.is_empty());
    }

    #[test]
    fn an_unknown_id_and_a_body_that_is_not_an_object_are_refused() {
        let Err(Judge0Error::Fields(errors)) =
            checked(json!({"language_id": -3, "source_code": "x"}))
        else {
            panic!("accepted")
        };
        assert_eq!(errors["language_id"], ["language with id -3 doesn't exist"]);
        for body in [json!([71, "x"]), json!("x"), json!([])] {
            let Err(Judge0Error::Message(status, _)) = checked(body) else {
                panic!("read positionally")
            };
            assert_eq!(status, 400);
        }
    }
}
