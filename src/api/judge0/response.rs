//! A finished submission as Judge0 shows it: the verdict over its runs,
//! `time` and `wall_time` as strings of seconds and `memory` in KB (each
//! the mean over the runs), output as text or, with `base64_encoded`, as
//! Ruby's `encode64` writes it; then only the fields asked for.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::error::Judge0Error;
use super::fields::Fields;
use super::request::Submission;
use super::verdict::{self, Status};
use crate::sandbox::{RunOutcome, StageOutcome};

/// Judge0's message for a non-UTF-8 attribute without base64.
const NOT_UTF8: &str = "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter";

/// Judge0's compile output when compiling ran out of time.
const COMPILE_TIMEOUT: &str = "Compilation time limit exceeded.";

/// The attributes that are text (base64 in and out with `base64_encoded`).
pub(super) const TEXT: [&str; 7] = [
    "source_code",
    "stdin",
    "expected_output",
    "stdout",
    "stderr",
    "compile_output",
    "message",
];

/// What Judge0 records of a finished submission.
#[derive(Debug)]
pub struct Verdict {
    pub status: Status,
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
    pub compile_output: Option<Vec<u8>>,
    pub message: Option<String>,
    /// Mean CPU seconds of the runs.
    pub time: Option<f64>,
    pub wall_time: Option<f64>,
    /// Mean peak KB of the runs.
    pub memory: Option<u64>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
}

impl Verdict {
    /// A submission not yet finished: its status and nothing else.
    pub fn pending(status: Status) -> Verdict {
        Verdict {
            status,
            stdout: None,
            stderr: None,
            compile_output: None,
            message: None,
            time: None,
            wall_time: None,
            memory: None,
            exit_code: None,
            exit_signal: None,
        }
    }

    /// The bytes its output holds (for the store's bound).
    pub fn bytes(&self) -> usize {
        [&self.stdout, &self.stderr, &self.compile_output]
            .iter()
            .map(|o| o.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
            + self.message.as_ref().map_or(0, String::len)
    }
}

/// A callback's body: the default fields, base64, as Judge0 sends it.
pub fn callback_body(
    token: &str,
    submission: &Submission,
    verdict: &Verdict,
    finished_at: &str,
) -> Vec<u8> {
    let shown = Shown {
        token,
        submission,
        verdict,
        language_name: "",
        created_at: "",
        finished_at: Some(finished_at),
    };
    let fields = Fields(super::fields::DEFAULT.to_vec());
    shown
        .render(&fields, true)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_default()
}

/// The verdict over a submission's outcome: a failed compile is 6 with its
/// output; else the first run that is not accepted decides (later runs do
/// not start after a failed one), and the output shown is the last run's.
pub fn judge(submission: &Submission, outcome: &RunOutcome) -> Verdict {
    let non_empty = |bytes: Vec<u8>| (!bytes.is_empty()).then_some(bytes);
    let compile = outcome.stages.iter().find(|s| s.name == "compile");
    let runs: Vec<&StageOutcome> = outcome.stages.iter().filter(|s| s.name == "run").collect();
    let compile_output = compile.and_then(|c| {
        if c.timed_out {
            Some(COMPILE_TIMEOUT.as_bytes().to_vec())
        } else {
            non_empty(c.output.to_vec())
        }
    });
    let compile_failed = compile.is_some_and(|c| c.timed_out || c.exit_code != Some(0));
    if compile_failed || (runs.is_empty() && outcome.channel_error.is_none()) {
        return Verdict {
            compile_output,
            ..Verdict::pending(Status::CompilationError)
        };
    }
    if let Some(why) = &outcome.channel_error {
        return Verdict {
            compile_output,
            message: Some(format!("the run broke the sandbox's channel: {why}")),
            ..Verdict::pending(Status::InternalError)
        };
    }
    let cpu_limit = std::time::Duration::from_secs_f64(submission.limits.cpu_time_limit);
    // With `redirect_stderr_to_stdout` the runner wrote both into one pipe.
    let shown = |run: &StageOutcome| (run.stdout.to_vec(), run.stderr.to_vec());
    let mut decided = (Status::Accepted, None);
    let mut upto = runs.len();
    for (i, run) in runs.iter().enumerate() {
        let last = i + 1 == runs.len();
        let oom = last && outcome.oom_killed;
        let (stdout, _) = shown(run);
        let judged = verdict::of_run(
            run,
            oom,
            cpu_limit,
            &stdout,
            submission.expected_output.as_deref(),
        );
        if judged.0 != Status::Accepted {
            decided = judged;
            upto = i + 1;
            break;
        }
    }
    // As Judge0, the runs end with the first that is not accepted: what is
    // shown is that run's, and the means are over the runs up to it.
    let runs = &runs[..upto];
    let last = runs.last().expect("at least one run");
    let (stdout, stderr) = shown(last);
    let count = runs.len() as f64;
    let mean = |f: &dyn Fn(&StageOutcome) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / count)
    };
    Verdict {
        status: decided.0,
        stdout: non_empty(stdout),
        stderr: non_empty(stderr),
        compile_output,
        message: decided.1,
        time: mean(&|r| r.cpu_time.map(|t| t.as_secs_f64())),
        wall_time: mean(&|r| Some(r.wall_time.as_secs_f64())),
        memory: mean(&|r| r.memory_peak.map(|b| b as f64 / 1024.0)).map(|kb| kb.round() as u64),
        // Judge0 says 0 where no code was reported (a signal ended it).
        exit_code: Some(last.exit_code.unwrap_or(0)),
        exit_signal: last.signal,
    }
}

/// Everything that is known about a finished submission.
pub struct Shown<'a> {
    pub token: &'a str,
    pub submission: &'a Submission,
    pub verdict: &'a Verdict,
    /// The name Judge0's listing gives its language.
    pub language_name: &'a str,
    pub created_at: &'a str,
    /// `None` while it is queued or running.
    pub finished_at: Option<&'a str>,
}

impl Shown<'_> {
    /// The `fields` asked for, as Judge0 writes them.
    pub fn render(&self, fields: &Fields, base64_encoded: bool) -> Result<Value, Judge0Error> {
        let s = self.submission;
        let v = self.verdict;
        let limits = &s.limits;
        let mut out = Map::new();
        for &field in &fields.0 {
            let value = match field {
                "source_code" => text(s.source_code.as_deref(), base64_encoded)?,
                "stdin" => text(Some(&s.stdin), base64_encoded)?,
                "expected_output" => text(s.expected_output.as_deref(), base64_encoded)?,
                "stdout" => text(v.stdout.as_deref(), base64_encoded)?,
                "stderr" => text(v.stderr.as_deref(), base64_encoded)?,
                "compile_output" => text(v.compile_output.as_deref(), base64_encoded)?,
                "message" => text(v.message.as_deref().map(str::as_bytes), base64_encoded)?,
                "language_id" => json!(s.language_id),
                "status_id" => json!(v.status.id()),
                "status" => json!(v.status.shown()),
                "language" => json!({"id": s.language_id, "name": self.language_name}),
                "created_at" => json!(self.created_at),
                "finished_at" => json!(self.finished_at),
                "token" => json!(self.token),
                "time" => json!(v.time.map(seconds)),
                "wall_time" => json!(v.wall_time.map(seconds)),
                "memory" => json!(v.memory),
                "exit_code" => json!(v.exit_code),
                "exit_signal" => json!(v.exit_signal),
                "number_of_runs" => json!(limits.number_of_runs),
                // Decimal columns in Judge0, so strings, as `time` is.
                "cpu_time_limit" => json!(decimal(limits.cpu_time_limit)),
                "cpu_extra_time" => json!(decimal(limits.cpu_extra_time)),
                "wall_time_limit" => json!(decimal(limits.wall_time_limit)),
                "memory_limit" => json!(limits.memory_limit),
                "stack_limit" => json!(limits.stack_limit),
                "max_processes_and_or_threads" => json!(limits.max_processes_and_or_threads),
                "max_file_size" => json!(limits.max_file_size),
                "enable_per_process_and_thread_time_limit"
                | "enable_per_process_and_thread_memory_limit"
                | "enable_network" => json!(false),
                "redirect_stderr_to_stdout" => json!(s.redirect_stderr_to_stdout),
                "compiler_options" => json!(s.compiler_options),
                "command_line_arguments" => json!(s.command_line_arguments),
                "callback_url" | "additional_files" => Value::Null,
                other => unreachable!("{other} is not a field"),
            };
            out.insert(field.to_owned(), value);
        }
        debug_assert!(TEXT.iter().all(|t| super::fields::ALL.contains(t)));
        Ok(Value::Object(out))
    }
}

/// A text attribute: as it is (it must be UTF-8) or base64.
pub(super) fn text(bytes: Option<&[u8]>, base64_encoded: bool) -> Result<Value, Judge0Error> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    if base64_encoded {
        return Ok(Value::String(encode64(bytes)));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(_) => Err(Judge0Error::Message(
            axum::http::StatusCode::BAD_REQUEST,
            NOT_UTF8.into(),
        )),
    }
}

/// Base64 as Ruby's `Base64.encode64` writes it: a newline after every 60
/// characters and at the end (Judge0's clients decode either form).
pub fn encode64(bytes: &[u8]) -> String {
    let plain = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(plain.len() + plain.len() / 60 + 1);
    for line in plain.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Seconds as Judge0 writes a time: a string, to the millisecond.
fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

/// A limit as Rails writes a decimal: `5.0`, `0.5`.
fn decimal(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.1}")
    } else {
        format!("{n}")
    }
}

/// A moment as Judge0 (Rails) writes one: `2026-12-02T03:04:05.678Z`.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_written_as_ruby_writes_it() {
        assert_eq!(encode64(b"hi"), "aGk=\n");
        let long = encode64(&[b'x'; 60]);
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 60);
        assert!(long.ends_with('\n'));
        assert_eq!(encode64(b""), "");
    }

    #[test]
    fn times_are_strings_of_seconds_and_moments_are_rails_timestamps() {
        assert_eq!(seconds(0.0021), "0.002");
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_764_644_645_678_000_000).unwrap();
        assert_eq!(timestamp(at), "2025-12-02T03:04:05.678Z");
    }

    fn submission() -> Submission {
        let state = crate::api::state::AppState::for_tests();
        let config = super::super::config::Config::of(&state, None);
        let body = json!({"language_id": 50, "source_code": "int main(){}"});
        super::super::request::prepare(
            &state,
            super::super::flavor::Flavor::Ce,
            &config,
            &body,
            false,
            &mut { super::super::files::REQUEST_BUDGET },
        )
        .unwrap()
    }

    fn stage(name: &str) -> StageOutcome {
        StageOutcome {
            name: name.into(),
            exit_code: Some(0),
            ..StageOutcome::default()
        }
    }

    #[test]
    fn a_compile_out_of_time_is_judge0s_compilation_error() {
        let mut compile = stage("compile");
        compile.timed_out = true;
        compile.exit_code = None;
        let outcome = RunOutcome {
            stages: vec![compile],
            ..RunOutcome::default()
        };
        let verdict = judge(&submission(), &outcome);
        assert_eq!(verdict.status, Status::CompilationError);
        assert_eq!(
            verdict.compile_output.as_deref(),
            Some(COMPILE_TIMEOUT.as_bytes())
        );
        assert_eq!(
            (verdict.time, verdict.memory, verdict.exit_code),
            (None, None, None)
        );
    }

    #[test]
    fn the_first_run_not_accepted_decides_and_time_and_memory_are_means() {
        let mut runs = Vec::new();
        for (ms, kb) in [(10, 1000), (30, 3000)] {
            let mut run = stage("run");
            run.cpu_time = Some(std::time::Duration::from_millis(ms));
            run.memory_peak = Some(kb * 1024);
            run.stdout.push(bytes::Bytes::from_static(b"out\n"));
            runs.push(run);
        }
        let outcome = RunOutcome {
            stages: [vec![stage("compile")], runs.clone()].concat(),
            ..RunOutcome::default()
        };
        let verdict = judge(&submission(), &outcome);
        assert_eq!(verdict.status, Status::Accepted);
        assert_eq!(verdict.time.map(seconds).as_deref(), Some("0.020"));
        assert_eq!(verdict.memory, Some(2000));
        let mut failed = runs;
        failed[1].exit_code = Some(2);
        let outcome = RunOutcome {
            stages: [vec![stage("compile")], failed].concat(),
            ..RunOutcome::default()
        };
        let verdict = judge(&submission(), &outcome);
        assert_eq!(verdict.status, Status::Nzec);
        assert_eq!(verdict.exit_code, Some(2));
        // The first run not accepted decides, and what is shown is its own.
        let mut first_fails = vec![stage("compile"), stage("run"), stage("run")];
        first_fails[1].exit_code = Some(4);
        first_fails[1].memory_peak = Some(1024 * 1024);
        first_fails[2]
            .stdout
            .push(bytes::Bytes::from_static(b"later\n"));
        let outcome = RunOutcome {
            stages: first_fails,
            ..RunOutcome::default()
        };
        let verdict = judge(&submission(), &outcome);
        assert_eq!((verdict.status, verdict.exit_code), (Status::Nzec, Some(4)));
        assert_eq!(verdict.stdout, None);
        assert_eq!(verdict.memory, Some(1024), "the mean over the runs made");
    }

    #[test]
    fn text_that_is_not_utf8_needs_base64() {
        assert!(text(Some(b"\xff"), false).is_err());
        assert_eq!(text(Some(b"\xff"), true).unwrap(), "/w==\n");
        assert_eq!(text(None, false).unwrap(), Value::Null);
    }
}
