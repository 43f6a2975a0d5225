//! A [`PistonExecute`] turned into the same [`Job`] as every API's:
//! Piston's checks in Piston's order and words, then whipcode's own (file
//! names, encodings, counts, argument sizes). Where Piston is wrong this is
//! not: a limit of 0 does not disable the limit, and a file name that
//! escapes the job's directory is a 400.

use std::time::Duration;

use super::request::{limit, Chosen, PistonExecute, PistonFile};
use super::runtimes::{find, for_lookup, Installed};
use crate::api::error::ApiError;
use crate::api::job::{Job, StageLimits};
use crate::api::state::AppState;
use crate::sandbox::{Limits, MEMORY_FLOOR_MB};

/// What validation needs from the server.
pub struct Context<'a> {
    /// The runtimes installed here.
    pub runtimes: &'a [Installed],
    /// The longest compile or run (`--timeout`).
    pub max_timeout: Duration,
    /// The server's limits, before a language's overrides.
    pub limits: Limits,
    /// Most files in a job.
    pub max_files: usize,
}

/// A validated execute request: the job and the runtime it runs on.
#[derive(Debug)]
pub struct Execute {
    pub job: Job,
    pub runtime: Installed,
}

/// The stages, in the order Piston checks them.
const STAGES: [&str; 2] = ["compile", "run"];

/// `body` validated against the runtimes installed here and the server's
/// limits: what `execute` and an interactive `init` both do.
pub async fn prepare(state: &AppState, body: PistonExecute) -> Result<Execute, ApiError> {
    let runtimes = for_lookup(state).await?;
    let ctx = Context {
        runtimes: &runtimes,
        max_timeout: state.max_timeout,
        limits: state.limits,
        max_files: state.max_files,
    };
    Execute::try_from((body, &ctx))
}

impl TryFrom<(PistonExecute, &Context<'_>)> for Execute {
    type Error = ApiError;

    fn try_from((body, ctx): (PistonExecute, &Context<'_>)) -> Result<Self, ApiError> {
        let language = body.language()?;
        let version = body.version()?;
        let files = body.files()?;
        let runtime = find(ctx.runtimes, language, version)
            .ok_or_else(|| ApiError::bad(format!("{language}-{version} runtime is unknown")))?
            .clone();
        if !files.iter().any(|file| file.is_utf8()) {
            return Err(ApiError::bad(
                "files must include at least one utf8 encoded file",
            ));
        }
        let chosen = chosen_limits(&body, ctx, &runtime)?;
        // whipcode's checks, past Piston's.
        if files.len() > ctx.max_files {
            return Err(ApiError::bad(format!(
                "files has {} entries; at most {} files are allowed",
                files.len(),
                ctx.max_files
            )));
        }
        let files = job_files(&files, &runtime)?;
        memory_above_the_floor(&chosen)?;
        let stage = |s: usize| StageLimits {
            timeout: chosen[1][s].or(ctx.max_timeout, Duration::from_millis),
            cpu_time: chosen[2][s].value().map(Duration::from_millis),
            memory_mb: chosen[0][s].value().map(|bytes| bytes.div_ceil(1 << 20)),
            ..StageLimits::default()
        };
        let job = Job {
            files,
            tool_args: Vec::new(),
            program_args: body.program_args()?,
            stdin: body.stdin()?,
            env: runtime
                .language
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            compile: stage(0),
            run: stage(1),
            runs: 1,
            processes: None,
            language: runtime.language.clone(),
        };
        Ok(Execute { job, runtime })
    }
}

/// Each stage's limits as the body asks for them: memory, timeout and CPU
/// time (rows) of compile and run (columns), checked in that order.
fn chosen_limits(
    body: &PistonExecute,
    ctx: &Context<'_>,
    runtime: &Installed,
) -> Result<[[Chosen; 2]; 3], ApiError> {
    let limits = ctx.limits.with_overrides(&runtime.language.limits);
    let configured = [
        u64::from(limits.memory_mb) << 20,
        millis(ctx.max_timeout),
        u64::from(limits.cpu_seconds) * 1000,
    ];
    let mut chosen = [[Chosen::Server; 2]; 3];
    for (c, row) in body.limits().into_iter().enumerate() {
        for (s, (name, value)) in row.into_iter().enumerate() {
            chosen[c][s] = limit(name, value, configured[c])?;
        }
    }
    Ok(chosen)
}

/// whipcode's check, past Piston's: no memory limit asked below the
/// sandbox's floor.
fn memory_above_the_floor(chosen: &[[Chosen; 2]; 3]) -> Result<(), ApiError> {
    let floor = MEMORY_FLOOR_MB << 20;
    for (s, stage) in STAGES.iter().enumerate() {
        if let Chosen::Value(bytes) = chosen[0][s] {
            if bytes < floor {
                return Err(ApiError::bad(format!(
                    "{stage}_memory_limit must be at least {floor} (the sandbox's floor)"
                )));
            }
        }
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The job's files, the first utf8 file (the one run) first. An unnamed
/// file (no `name`, or an empty one) is the language's source file if it
/// is the one run, else `file<i>.code` as in Piston; the one run gets the
/// language's extension when its name lacks it (so `main` is compiled as C).
fn job_files(
    files: &[&PistonFile],
    runtime: &Installed,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let language = &runtime.language;
    let entry_at = files.iter().position(|file| file.is_utf8()).unwrap_or(0);
    let mut tree = whipcode_runner::FileTree::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let given = file.name(i)?;
        let shown: String = given
            .chars()
            .flat_map(char::escape_debug)
            .take(200)
            .collect();
        let refused = |why: &dyn std::fmt::Display| {
            ApiError::bad(format!("files[{i}].name \"{shown}\" {why}"))
        };
        let mut name = match (given.is_empty(), i == entry_at) {
            (true, true) => language.source.clone(),
            (true, false) => format!("file{i}.code"),
            (false, _) => whipcode_runner::normalize_path(given).map_err(|e| refused(&e))?,
        };
        let extension = language.extension();
        if i == entry_at
            && !name
                .to_ascii_lowercase()
                .ends_with(&extension.to_ascii_lowercase())
        {
            name.push_str(extension);
            // The extension can make the last component too long.
            name = whipcode_runner::normalize_path(&name).map_err(|e| refused(&e))?;
        }
        tree.insert(&name).map_err(|e| refused(&e))?;
        out.push((name, file.bytes(i)?));
    }
    let entry = out.remove(entry_at);
    out.insert(0, entry);
    Ok(out)
}
