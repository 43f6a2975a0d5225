//! Judge0's statuses (1–14) and how one is picked for a finished
//! submission, as Judge0 CE 1.13.1 picks it: a limit first, then the
//! signal, then the exit code, then the output against `expected_output`.

use serde::Serialize;

use crate::sandbox::StageOutcome;

const SIGABRT: i32 = 6;
const SIGFPE: i32 = 8;
const SIGKILL: i32 = 9;
const SIGSEGV: i32 = 11;
const SIGXCPU: i32 = 24;
const SIGXFSZ: i32 = 25;

/// One of Judge0's statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InQueue = 1,
    Processing = 2,
    Accepted = 3,
    WrongAnswer = 4,
    TimeLimitExceeded = 5,
    CompilationError = 6,
    SigSegv = 7,
    SigXfsz = 8,
    SigFpe = 9,
    SigAbrt = 10,
    Nzec = 11,
    Other = 12,
    InternalError = 13,
    ExecFormatError = 14,
}

impl Status {
    pub const ALL: [Status; 14] = [
        Status::InQueue,
        Status::Processing,
        Status::Accepted,
        Status::WrongAnswer,
        Status::TimeLimitExceeded,
        Status::CompilationError,
        Status::SigSegv,
        Status::SigXfsz,
        Status::SigFpe,
        Status::SigAbrt,
        Status::Nzec,
        Status::Other,
        Status::InternalError,
        Status::ExecFormatError,
    ];

    pub fn id(self) -> u32 {
        self as u32
    }

    /// Judge0's own wording.
    pub fn description(self) -> &'static str {
        match self {
            Status::InQueue => "In Queue",
            Status::Processing => "Processing",
            Status::Accepted => "Accepted",
            Status::WrongAnswer => "Wrong Answer",
            Status::TimeLimitExceeded => "Time Limit Exceeded",
            Status::CompilationError => "Compilation Error",
            Status::SigSegv => "Runtime Error (SIGSEGV)",
            Status::SigXfsz => "Runtime Error (SIGXFSZ)",
            Status::SigFpe => "Runtime Error (SIGFPE)",
            Status::SigAbrt => "Runtime Error (SIGABRT)",
            Status::Nzec => "Runtime Error (NZEC)",
            Status::Other => "Runtime Error (Other)",
            Status::InternalError => "Internal Error",
            Status::ExecFormatError => "Exec Format Error",
        }
    }

    /// `{"id", "description"}`, as Judge0 shows a status.
    pub fn shown(self) -> Shown {
        Shown {
            id: self.id(),
            description: self.description(),
        }
    }
}

/// A status as Judge0 writes it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Shown {
    pub id: u32,
    pub description: &'static str,
}

/// The status of one run stage and Judge0's `message` for it.
/// `cpu_limit` is the submission's `cpu_time_limit`: a run that finished
/// but used more is over its time, as Judge0 (isolate) counts it; the extra
/// time only decides when it is stopped.
pub fn of_run(
    run: &StageOutcome,
    oom_killed: bool,
    cpu_limit: std::time::Duration,
    stdout: &[u8],
    expected: Option<&[u8]>,
) -> (Status, Option<String>) {
    let over_cpu = run.cpu_time.is_some_and(|t| t > cpu_limit);
    if run.timed_out || run.signal == Some(SIGXCPU) || over_cpu {
        let message = if run.cpu_limited || run.signal == Some(SIGXCPU) || over_cpu {
            "Time limit exceeded"
        } else {
            "Time limit exceeded (wall clock)"
        };
        return (Status::TimeLimitExceeded, Some(message.into()));
    }
    if run.truncated {
        // The output cap: Judge0 writes output to files under the file
        // size limit, and a program over it dies of SIGXFSZ.
        return (Status::SigXfsz, Some("Output limit exceeded".into()));
    }
    if let Some(signal) = run.signal {
        let status = match signal {
            SIGSEGV => Status::SigSegv,
            SIGXFSZ => Status::SigXfsz,
            SIGFPE => Status::SigFpe,
            SIGABRT => Status::SigAbrt,
            _ => Status::Other,
        };
        let message = if signal == SIGKILL && oom_killed {
            "Memory limit exceeded (killed by SIGKILL)".to_owned()
        } else {
            format!("Caught fatal signal {signal}")
        };
        return (status, Some(message));
    }
    match run.exit_code {
        Some(0) | None => {}
        Some(code) => {
            return (
                Status::Nzec,
                Some(format!("Exited with error status {code}")),
            )
        }
    }
    match expected {
        Some(expected) if trimmed(stdout) != trimmed(expected) => (Status::WrongAnswer, None),
        _ => (Status::Accepted, None),
    }
}

/// Output as Judge0 compares it: trailing whitespace cut from every line
/// and from the end.
fn trimmed(output: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    lines.join("\n").trim_end().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(exit_code: Option<i32>, signal: Option<i32>) -> StageOutcome {
        StageOutcome {
            name: "run".into(),
            exit_code,
            signal,
            cpu_time: Some(Duration::from_millis(10)),
            ..StageOutcome::default()
        }
    }

    fn status(run: &StageOutcome, stdout: &str, expected: Option<&str>) -> Status {
        of_run(
            run,
            false,
            Duration::from_secs(2),
            stdout.as_bytes(),
            expected.map(str::as_bytes),
        )
        .0
    }

    #[test]
    fn expected_output_is_compared_without_trailing_whitespace() {
        let ok = run(Some(0), None);
        assert_eq!(
            status(&ok, "1 2 \n3\t\n\n\n", Some("1 2\n3")),
            Status::Accepted
        );
        assert_eq!(status(&ok, "1\r\n2\r\n", Some("1\n2\n")), Status::Accepted);
        assert_eq!(status(&ok, "1\n2", None), Status::Accepted);
        assert_eq!(status(&ok, " 1\n2", Some("1\n2")), Status::WrongAnswer);
        assert_eq!(status(&ok, "1\n\n2", Some("1\n2")), Status::WrongAnswer);
    }

    #[test]
    fn limits_come_before_signals_and_signals_before_exit_codes() {
        let mut timed_out = run(None, Some(SIGKILL));
        timed_out.timed_out = true;
        assert_eq!(status(&timed_out, "", None), Status::TimeLimitExceeded);
        assert_eq!(
            status(&run(None, Some(SIGXCPU)), "", None),
            Status::TimeLimitExceeded
        );
        let mut slow = run(Some(0), None);
        slow.cpu_time = Some(Duration::from_secs(3));
        assert_eq!(status(&slow, "", None), Status::TimeLimitExceeded);
        for (signal, expected) in [
            (SIGSEGV, Status::SigSegv),
            (SIGXFSZ, Status::SigXfsz),
            (SIGFPE, Status::SigFpe),
            (SIGABRT, Status::SigAbrt),
            (SIGKILL, Status::Other),
            (15, Status::Other),
        ] {
            assert_eq!(status(&run(None, Some(signal)), "", None), expected);
        }
        assert_eq!(status(&run(Some(3), None), "x", Some("x")), Status::Nzec);
        let (_, message) = of_run(
            &run(None, Some(SIGKILL)),
            true,
            Duration::from_secs(1),
            b"",
            None,
        );
        assert!(message.unwrap().starts_with("Memory limit exceeded"));
    }

    #[test]
    fn statuses_are_numbered_and_worded_as_judge0s() {
        let ids: Vec<u32> = Status::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(ids, (1..=14).collect::<Vec<_>>());
        assert_eq!(Status::Nzec.description(), "Runtime Error (NZEC)");
    }
}
