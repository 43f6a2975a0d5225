//! The one job every API makes of its wire request: the files (the entry
//! first), the tool's and the program's arguments, stdin, the environment
//! and each stage's limits. Here it becomes the sandbox's [`RunSpec`], and
//! the sandbox's refusals become the HTTP layer's errors, once for all APIs.

use std::sync::Arc;
use std::time::Duration;

use super::error::ApiError;
use super::installed::InstalledView;
use crate::languages::{Invocation, Language};
use crate::sandbox::{Interaction, Limits, RunOutcome, RunSpec, Sandbox, SandboxError, StageSpec};

/// A validated job, whichever API it came from.
#[derive(Debug, Clone)]
pub struct Job {
    pub language: Arc<Language>,
    /// (normalised relative path, content); the entry file first.
    pub files: Vec<(String, Vec<u8>)>,
    /// Flags for the compiler or interpreter (`{args}`; whipcode's `args`).
    pub tool_args: Vec<String>,
    /// The program's own arguments (Piston's `args`).
    pub program_args: Vec<String>,
    pub stdin: Vec<u8>,
    /// The complete environment of every step.
    pub env: Vec<(String, String)>,
    pub compile: StageLimits,
    pub run: StageLimits,
    /// How many times the run stage runs after one compile (Judge0's
    /// `number_of_runs`), each from the compile's files, with the job's
    /// stdin; 1 for every other API.
    pub runs: u32,
    /// The most processes and threads at once, when the request sets it
    /// (Judge0's); a language's own count wins over a lower one.
    pub processes: Option<u32>,
}

/// What one stage may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageLimits {
    pub timeout: Duration,
    /// CPU time of the whole container during the stage; `None`: only the
    /// per-process limit.
    pub cpu_time: Option<Duration>,
    /// At most the container's; `None`: the container's.
    pub memory_mb: Option<u64>,
    /// Largest file a step may write, in bytes; `None`: the size of `/tmp`.
    pub file_size: Option<u64>,
    /// Stack size of its steps, in bytes; `None`: the image's default.
    pub stack: Option<u64>,
    /// Its stderr goes into stdout, in the order written (Judge0's
    /// `redirect_stderr_to_stdout`).
    pub stderr_to_stdout: bool,
}

impl StageLimits {
    /// Only a wall-clock limit; the rest the container's.
    pub fn timeout(timeout: Duration) -> StageLimits {
        StageLimits {
            timeout,
            ..StageLimits::default()
        }
    }
}

impl Job {
    /// The sandbox's job, with the container's `limits` (the server's, the
    /// language's overrides applied).
    pub fn into_spec(mut self, limits: Limits) -> RunSpec {
        let language = &self.language;
        language.rewrite_sources(&mut self.files);
        let (entry, others) = self
            .files
            .split_first()
            .map(|(entry, others)| (entry.0.as_str(), others))
            .unwrap_or((language.source.as_str(), &[]));
        let names: Vec<String> = others.iter().map(|(name, _)| name.clone()).collect();
        let several = self.runs > 1;
        let stages = language
            .stages(&Invocation {
                tool_args: &self.tool_args,
                program_args: &self.program_args,
                entry,
                files: &names,
            })
            .into_iter()
            .flat_map(|(name, steps)| {
                let (limits, times) = if name == "compile" {
                    (self.compile, 1)
                } else {
                    (self.run, self.runs.max(1))
                };
                let stage = StageSpec {
                    name: name.to_owned(),
                    steps,
                    timeout: limits.timeout,
                    cpu_time: limits.cpu_time,
                    memory_mb: limits.memory_mb,
                    stdin: name == "run",
                    fresh_workdir: several && name == "run",
                    file_size: limits.file_size,
                    stack: limits.stack,
                    stderr_to_stdout: limits.stderr_to_stdout,
                };
                std::iter::repeat_n(stage, times as usize)
            })
            .collect();
        RunSpec {
            image: language.image_ref(),
            // Moved, not copied: the sandbox shares these bytes to the runner.
            files: self.files.into_iter().map(|(n, c)| (n, c.into())).collect(),
            stages,
            env: self.env,
            stdin: self.stdin.into(),
            limits,
        }
    }
}

/// Why a job did not run: the sandbox's refusals as every API sees them,
/// converted once into the API's error ([`ApiError`]: a full queue and a
/// missing image are 503s with a `Retry-After`, anything else an opaque
/// 500).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Every container slot is taken and the queue is full.
    #[error("all {limit} container slots are busy and the queue is full; retry shortly")]
    Busy { limit: usize },
    #[error("the {language} image is not installed on this server")]
    ImageMissing { language: String },
    /// The sandbox failed (logged with its causes where it happened).
    #[error("internal error")]
    Sandbox(#[source] SandboxError),
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        match e {
            RunError::Busy { .. } => ApiError::Unavailable {
                detail: e.to_string(),
                retry_after: 1,
            },
            RunError::ImageMissing { .. } => ApiError::Unavailable {
                detail: e.to_string(),
                retry_after: 60,
            },
            RunError::Sandbox(_) => ApiError::Internal,
        }
    }
}

impl Job {
    /// One attempt, not counted (a caller that retries counts its last).
    /// A missing image marks `images` stale; a failure of the sandbox is
    /// logged here, with its causes.
    pub async fn attempt(
        self,
        sandbox: &dyn Sandbox,
        limits: Limits,
        images: &InstalledView,
        interaction: Option<Interaction>,
    ) -> Result<RunOutcome, RunError> {
        let language = self.language.name.clone();
        let mut limits = limits.with_overrides(&self.language.limits);
        if let Some(processes) = self.processes {
            // The runner's own threads count in the same pids cgroup.
            const RUNNER_THREADS: u32 = 8;
            limits.pids = processes.max(self.language.limits.pids.unwrap_or(0)) + RUNNER_THREADS;
        }
        let started = std::time::Instant::now();
        let spec = self.into_spec(limits);
        let outcome = match interaction {
            None => sandbox.run(spec).await,
            Some(interaction) => sandbox.run_interactive(spec, interaction).await,
        }
        .map_err(|e| match e {
            SandboxError::Busy { limit } => RunError::Busy { limit },
            SandboxError::ImageMissing { image } => {
                tracing::error!(%image, %language, "language image missing");
                images.mark_stale();
                RunError::ImageMissing {
                    language: language.clone(),
                }
            }
            other => {
                tracing::error!(error = %other, %language, "run failed");
                RunError::Sandbox(other)
            }
        })?;
        tracing::debug!(
            container = %outcome.container,
            %language,
            exit_code = ?outcome.exit_code,
            timed_out = outcome.timed_out,
            truncated = outcome.truncated,
            ms = started.elapsed().as_millis() as u64,
            "run finished"
        );
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(files: &[(&str, &str)]) -> Job {
        let map = crate::languages::LanguageMap::load(None).unwrap();
        Job {
            language: map.get(7).unwrap().clone(),
            files: files
                .iter()
                .map(|(n, c)| ((*n).to_owned(), c.as_bytes().to_vec()))
                .collect(),
            tool_args: vec!["-DX".into()],
            program_args: vec!["a".into()],
            stdin: b"in".to_vec(),
            env: vec![],
            compile: StageLimits::timeout(Duration::from_secs(7)),
            run: StageLimits {
                timeout: Duration::from_secs(2),
                cpu_time: Some(Duration::from_millis(500)),
                memory_mb: Some(64),
                file_size: Some(1 << 20),
                stack: None,
                stderr_to_stdout: false,
            },
            runs: 1,
            processes: None,
        }
    }

    #[test]
    fn each_stage_gets_its_own_limits_and_the_entry_is_the_first_file() {
        let spec = job(&[("main.c", "int main;"), ("util.c", "")]).into_spec(Limits::default());
        assert_eq!(spec.stages.len(), 2);
        let (compile, run) = (&spec.stages[0], &spec.stages[1]);
        assert_eq!(compile.timeout, Duration::from_secs(7));
        assert_eq!(compile.memory_mb, None);
        assert!(compile.steps[0].ends_with(&["main.c".into(), "util.c".into(), "-lm".into()]));
        assert!(compile.steps[0].contains(&"-DX".to_owned()));
        assert_eq!(run.timeout, Duration::from_secs(2));
        assert_eq!(run.cpu_time, Some(Duration::from_millis(500)));
        assert_eq!(run.memory_mb, Some(64));
        assert_eq!(run.steps[0], ["/tmp/a.out", "a"]);
        assert_eq!(spec.files[0].0, "main.c");
        assert_eq!(spec.stdin, &b"in"[..]);
        assert_eq!((compile.file_size, run.file_size), (None, Some(1 << 20)));
        assert!(run.stdin && !compile.stdin && !run.fresh_workdir);
    }

    #[test]
    fn several_runs_follow_one_compile_each_from_its_files() {
        let mut job = job(&[("main.c", "int main;")]);
        job.runs = 3;
        let spec = job.into_spec(Limits::default());
        let names: Vec<_> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["compile", "run", "run", "run"]);
        assert!(spec.stages[1..].iter().all(|s| s.stdin && s.fresh_workdir));
        assert!(!spec.stages[0].fresh_workdir);
    }
}
