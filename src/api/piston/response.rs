//! `POST /api/v2/execute`'s answer: the sandbox's outcome in Piston's
//! fields and units (ms, bytes), with Piston's `status` and `message`.

use serde::Serialize;

use crate::sandbox::{signal_name, Captured, RunOutcome, StageOutcome};

const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PistonExecuteResult)]
pub struct ExecuteResponse {
    pub language: String,
    pub version: String,
    pub run: StageResult,
    /// Only for compiled languages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<StageResult>,
}

/// One stage as Piston reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PistonStageResult)]
pub struct StageResult {
    pub stdout: String,
    pub stderr: String,
    /// Both streams in the order they were written.
    pub output: String,
    /// The exit code; `null` when a signal or a limit ended the stage.
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub message: Option<String>,
    /// `RE`, `SG`, `TO`, `OL`, `EL`, `XX`, or `null` for a clean exit.
    pub status: Option<&'static str>,
    /// ms.
    pub cpu_time: Option<u64>,
    /// ms.
    pub wall_time: u64,
    /// Peak bytes.
    pub memory: Option<u64>,
}

impl ExecuteResponse {
    /// `language` and `version` as Piston names them. When compiling
    /// failed, `run` is a copy of `compile`, as Piston's clients expect.
    pub fn new(language: String, version: String, outcome: &RunOutcome) -> ExecuteResponse {
        let last = outcome.stages.len().saturating_sub(1);
        let results: Vec<(&str, StageResult)> = outcome
            .stages
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let run_level = (i == last).then_some(outcome);
                (stage.name.as_str(), StageResult::of(stage, run_level))
            })
            .collect();
        let compile = results
            .iter()
            .find(|(name, _)| *name == "compile")
            .map(|(_, r)| r.clone());
        let run = results
            .into_iter()
            .find(|(name, _)| *name == "run")
            .map(|(_, r)| r)
            .or_else(|| compile.clone())
            .unwrap_or_else(|| StageResult::of(&run_level_stage(outcome), Some(outcome)));
        ExecuteResponse {
            language,
            version,
            run,
            compile,
        }
    }
}

/// A stage made of the run's own figures, for an outcome without stages.
fn run_level_stage(outcome: &RunOutcome) -> StageOutcome {
    StageOutcome {
        name: "run".into(),
        stdout: outcome.stdout.clone(),
        stderr: outcome.stderr.clone(),
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        timed_out: outcome.timed_out,
        truncated: outcome.truncated,
        wall_time: outcome.container_age,
        cpu_time: outcome.cpu_time,
        memory_peak: outcome.memory_peak,
        ..StageOutcome::default()
    }
}

fn text(captured: &Captured) -> String {
    String::from_utf8_lossy(&captured.to_vec()).into_owned()
}

impl StageResult {
    /// `run` is the run's outcome when this is its last stage: what ended
    /// the run as a whole (the channel, the OOM killer) ended this stage.
    pub fn of(stage: &StageOutcome, run: Option<&RunOutcome>) -> StageResult {
        let signal = stage.signal.or(run.and_then(|r| r.signal));
        let oom = run.is_some_and(|r| r.oom_killed) && signal == Some(SIGKILL);
        let channel = run.and_then(|r| r.channel_error.as_deref());
        let timed_out = stage.timed_out || signal == Some(SIGXCPU);
        let (status, message): (Option<&'static str>, Option<String>) =
            if let Some(reason) = channel {
                (
                    Some("XX"),
                    Some(format!("the run broke the sandbox's channel: {reason}")),
                )
            } else if stage.truncated_stream == Some("stdout") {
                (Some("OL"), Some("stdout length exceeded".into()))
            } else if stage.truncated_stream == Some("stderr") || stage.truncated {
                (Some("EL"), Some("stderr length exceeded".into()))
            } else if timed_out {
                let which = if stage.cpu_limited || signal == Some(SIGXCPU) {
                    "Time limit exceeded"
                } else {
                    "Time limit exceeded (wall clock)"
                };
                (Some("TO"), Some(which.into()))
            } else if let Some(n) = signal {
                let why = if oom { " (out of memory)" } else { "" };
                (Some("SG"), Some(format!("Caught fatal signal {n}{why}")))
            } else {
                match stage.exit_code {
                    Some(0) | None => (None, None),
                    Some(code) => (Some("RE"), Some(format!("Exited with error status {code}"))),
                }
            };
        let killed_by_limit = matches!(status, Some("TO" | "OL" | "EL"));
        StageResult {
            stdout: text(&stage.stdout),
            stderr: text(&stage.stderr),
            output: text(&stage.output),
            code: if killed_by_limit || signal.is_some() {
                None
            } else {
                stage.exit_code
            },
            signal: if killed_by_limit {
                Some(signal_name(SIGKILL))
            } else {
                signal.map(signal_name)
            },
            message,
            status,
            cpu_time: stage.cpu_time.map(|d| d.as_millis() as u64),
            wall_time: stage.wall_time.as_millis() as u64,
            memory: stage.memory_peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stage(name: &str) -> StageOutcome {
        StageOutcome {
            name: name.into(),
            stdout: Captured::from(&b"out"[..]),
            stderr: Captured::from(&b"err"[..]),
            output: Captured::from(&b"outerr"[..]),
            exit_code: Some(0),
            wall_time: Duration::from_millis(154),
            cpu_time: Some(Duration::from_micros(8_400)),
            memory_peak: Some(1_160_000),
            ..StageOutcome::default()
        }
    }

    fn answer(stages: Vec<StageOutcome>) -> serde_json::Value {
        let outcome = RunOutcome {
            stages,
            ..RunOutcome::default()
        };
        serde_json::to_value(ExecuteResponse::new("c".into(), "12.2.0".into(), &outcome)).unwrap()
    }

    #[test]
    fn a_clean_run_has_pistons_fields_in_its_units() {
        let a = answer(vec![stage("run")]);
        assert_eq!(a["language"], "c");
        assert_eq!(a["version"], "12.2.0");
        assert!(a.get("compile").is_none(), "no compile stage, no field");
        let run = &a["run"];
        assert_eq!(run["stdout"], "out");
        assert_eq!(run["output"], "outerr");
        assert_eq!(run["code"], 0);
        assert_eq!(run["signal"], serde_json::Value::Null);
        assert_eq!(run["status"], serde_json::Value::Null);
        assert_eq!(run["message"], serde_json::Value::Null);
        assert_eq!(run["wall_time"], 154);
        assert_eq!(run["cpu_time"], 8);
        assert_eq!(run["memory"], 1_160_000);
    }

    #[test]
    fn a_failed_compile_is_copied_into_run() {
        let mut compile = stage("compile");
        compile.exit_code = Some(1);
        let a = answer(vec![compile]);
        assert_eq!(a["compile"]["status"], "RE");
        assert_eq!(a["compile"]["message"], "Exited with error status 1");
        assert_eq!(a["run"], a["compile"]);
    }

    #[test]
    fn limits_and_signals_get_pistons_statuses() {
        type Case = (fn(&mut StageOutcome), &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                |s| s.exit_code = Some(3),
                "RE",
                "Exited with error status 3",
            ),
            (
                |s| {
                    s.exit_code = None;
                    s.signal = Some(11)
                },
                "SG",
                "Caught fatal signal 11",
            ),
            (
                |s| {
                    s.exit_code = None;
                    s.timed_out = true
                },
                "TO",
                "Time limit exceeded (wall clock)",
            ),
            (
                |s| {
                    s.exit_code = None;
                    s.signal = Some(24)
                },
                "TO",
                "Time limit exceeded",
            ),
            (
                |s| {
                    s.truncated = true;
                    s.truncated_stream = Some("stdout")
                },
                "OL",
                "stdout length exceeded",
            ),
            (
                |s| {
                    s.truncated = true;
                    s.truncated_stream = Some("stderr")
                },
                "EL",
                "stderr length exceeded",
            ),
        ];
        for (change, status, message) in cases {
            let mut s = stage("run");
            change(&mut s);
            let run = &answer(vec![s])["run"];
            assert_eq!(run["status"], status, "{run}");
            assert_eq!(run["message"], message, "{run}");
            if matches!(status, "TO" | "OL" | "EL") {
                assert_eq!(run["signal"], "SIGKILL", "{run}");
                assert_eq!(run["code"], serde_json::Value::Null, "{run}");
            }
        }
    }
}
