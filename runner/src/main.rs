//! whipcode-runner: PID 1 of every run's container.
//!
//! Reads one job from stdin, writes the source files, runs its stages (each
//! after the server's go-ahead on stdin) with exactly the job's environment,
//! forwards their output as frames on stdout as it is written and ends with
//! one exit frame. After the job, one thread reads the server's control
//! frames: go-aheads, the program's stdin in pieces (interactive jobs), and
//! signals for the running step, which runs in its own process group. The
//! server does not wait for the container's teardown: the exit frame is its
//! answer. Linked statically.
//!
//! A step with resource limits of its own (a run stage's file size and
//! stack) is started through this same binary as a launcher
//! (`whipcode-runner --limits FSIZE STACK -- ARGV…`), which lowers its own
//! limits, hard ones included, then executes the step: no `unsafe`
//! `pre_exec` hook, and the program cannot raise them again.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use whipcode_runner::{
    normalize_path, read_frame, tag, write_event, Control, Event, ExitReport, Job, StageOptions,
    OUTPUT_CHUNK, PROGRAM_ID,
};

mod workdir;

/// The launcher's first argument (see the module's documentation).
const LIMITS_FLAG: &str = "--limits";

/// How long output still drains after the last step exits, for pipes held
/// open by its background children. They die with the container anyway.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How long the runner stays after its exit frame for the server to read the
/// container's cgroup statistics; the server closes stdin when it is done.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// The shared event sink; `None` once the final frame is written, so late
/// output from orphaned processes cannot follow the exit frame.
type Sink = Arc<Mutex<Option<io::Stdout>>>;

/// The process group of the step running now (0: none), for signals.
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// What the control thread hands on: go-aheads to the stages, stdin to the
/// program (`None`: its end), and the server's close (the release).
struct Controls {
    go: mpsc::Receiver<()>,
    input: Option<mpsc::Receiver<Option<Vec<u8>>>>,
    released: mpsc::Receiver<()>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(LIMITS_FLAG) {
        launch(&args[2..]);
    }
    // First, before any thread exists: threads inherit the bounding set.
    let sealed = sealed();
    let sink: Sink = Arc::new(Mutex::new(Some(io::stdout())));
    // Read first: the lock on stdin is released before the control thread reads.
    let job = Job::read_from(&mut io::stdin().lock());
    let mut controls = read_controls();
    let last = match (sealed, job) {
        (Err(e), _) => Event::Error(e),
        (Ok(()), Ok(job)) => run(&job, &sink, &mut controls),
        (Ok(()), Err(e)) => Event::Error(format!("bad job: {e}")),
    };
    finish(&sink, &last, &controls);
}

/// The runner's own setup, each failure the service's (a host or policy
/// that does not give the runner what it needs), never a program's: so any
/// step that then fails to start is the program's answer.
fn sealed() -> Result<(), String> {
    empty_bounding_set().map_err(|e| format!("cannot empty the capability bounding set: {e}"))?;
    not_dumpable().map_err(|e| format!("cannot make the runner not dumpable: {e}"))?;
    if rustix::process::geteuid().is_root() {
        for map in ["/proc/self/uid_map", "/proc/self/gid_map"] {
            let text = fs::read_to_string(map).map_err(|e| format!("cannot read {map}: {e}"))?;
            if !maps(&text, PROGRAM_ID) {
                return Err(format!(
                    "{PROGRAM_ID} is not mapped in {map}: steps cannot run as the program's user"
                ));
            }
        }
    }
    Ok(())
}

/// Whether id `id` inside is in one of the ranges of a `uid_map` text
/// (`inside outside count` per line).
fn maps(text: &str, id: u32) -> bool {
    text.lines().any(|line| {
        let numbers: Vec<u64> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        matches!(numbers[..], [inside, _, count] if inside <= u64::from(id) && u64::from(id) < inside + count)
    })
}

/// Empties the capability bounding set when the runner is root (with
/// CAP_SETPCAP): the runner keeps the capabilities it holds, while every
/// step it starts, which holds none after its change of uid, could not be
/// given one by any exec either (as `no_new_privileges` already ensures).
/// Capabilities this kernel does not know are skipped.
fn empty_bounding_set() -> io::Result<()> {
    use rustix::thread::{remove_capability_from_bounding_set, CapabilitySet};
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    for capability in CapabilitySet::all().iter() {
        match remove_capability_from_bounding_set(capability) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Marks the runner not dumpable, whatever its binary's mode: its
/// `/proc/1` entries (memory, fds, environment) then belong to root of the
/// namespace, out of reach of the program's user even where that user could
/// otherwise read them.
fn not_dumpable() -> io::Result<()> {
    use rustix::process::{set_dumpable_behavior, DumpableBehavior};
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(io::Error::from)
}

/// The launcher: `FSIZE STACK -- ARGV…` (0 for no limit). Lowers both
/// limits, soft and hard, then becomes the step; exits 127 when it cannot.
fn launch(args: &[String]) -> ! {
    use rustix::process::{setrlimit, Resource, Rlimit};
    use std::os::unix::process::CommandExt;
    let fail = |why: String| -> ! {
        let _ = writeln!(io::stderr(), "whipcode-runner: {why}");
        std::process::exit(127)
    };
    let (Some(fsize), Some(stack), Some("--"), Some(program)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
        args.get(2).map(String::as_str),
        args.get(3),
    ) else {
        fail("usage: --limits FSIZE STACK -- ARGV...".into())
    };
    for (resource, value) in [(Resource::Fsize, fsize), (Resource::Stack, stack)] {
        if value == 0 {
            continue;
        }
        let limit = Rlimit {
            current: Some(value),
            maximum: Some(value),
        };
        if let Err(e) = setrlimit(resource, limit) {
            fail(format!("cannot set {resource:?} to {value}: {e}"));
        }
    }
    let error = Command::new(program).args(&args[4..]).exec();
    let (code, line) = as_a_shell_says(program, &error);
    let _ = io::stderr().write_all(line.as_bytes());
    std::process::exit(code)
}

/// Reads the server's control frames until it closes stdin.
fn read_controls() -> Controls {
    let (go_tx, go) = mpsc::channel();
    let (input_tx, input) = mpsc::channel();
    let (released_tx, released) = mpsc::channel();
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        while let Ok(Some((tag, payload))) = read_frame(&mut stdin) {
            match Control::decode(tag, payload) {
                Ok(Control::Continue) => {
                    let _ = go_tx.send(());
                }
                Ok(Control::Input(bytes)) => {
                    let _ = input_tx.send(Some(bytes));
                }
                Ok(Control::InputEnd) => {
                    let _ = input_tx.send(None);
                }
                Ok(Control::Signal(signal)) => deliver(signal),
                Err(_) => break,
            }
        }
        // Dropping the senders ends the waits on them.
        let _ = released_tx.send(());
    });
    Controls {
        go,
        input: Some(input),
        released,
    }
}

/// `signal` to every process of the running step (its process group).
fn deliver(signal: i32) {
    let group = rustix::process::Pid::from_raw(RUNNING.load(Ordering::SeqCst));
    let signal = rustix::process::Signal::from_named_raw(signal);
    if let (Some(group), Some(signal)) = (group, signal) {
        // A group that has just ended fails with ESRCH: nothing to do.
        let _ = rustix::process::kill_process_group(group, signal);
    }
}

fn send(sink: &Sink, event: &Event) {
    if let Ok(mut guard) = sink.lock() {
        if let Some(out) = guard.as_mut() {
            // The server went away: nothing is left to report to.
            if write_event(out, event).is_err() {
                std::process::exit(1);
            }
        }
    }
}

/// Sends the last event, then waits (at most [`RELEASE_WAIT`]) until the
/// server closes stdin: while PID 1 lives, the container and its cgroup,
/// with the run's peak memory and OOM count, still exist.
fn finish(sink: &Sink, event: &Event, controls: &Controls) {
    send(sink, event);
    if let Ok(mut guard) = sink.lock() {
        guard.take();
    }
    let _ = controls.released.recv_timeout(RELEASE_WAIT);
    std::process::exit(0);
}

fn run(job: &Job, sink: &Sink, controls: &mut Controls) -> Event {
    let empty_step = job
        .stages
        .iter()
        .any(|stage| stage.steps.iter().any(Vec::is_empty));
    if job.stages.iter().all(|stage| stage.steps.is_empty()) || empty_step {
        return Event::Error("job has no step or an empty step".into());
    }
    for file in &job.files {
        if let Err(e) = write_new_file(&job.workdir, &file.name, &file.content) {
            return Event::Error(format!("cannot write {}: {e}", file.name));
        }
    }
    send(sink, &Event::Started);
    let mut status = None;
    let mut cpu_before = 0;
    let mut snapshot: Option<workdir::Snapshot> = None;
    let root = std::path::Path::new(&job.workdir);
    for (index, stage) in job.stages.iter().enumerate() {
        send(sink, &Event::StageStart(index as u32));
        // The server sets this stage's limits, then says go.
        if controls.go.recv().is_err() {
            return Event::Error(format!("no go-ahead for stage {index}"));
        }
        let mut stage_status = None;
        if stage.options.fresh_workdir {
            let done = match &snapshot {
                None => workdir::Snapshot::record(root).map(|s| snapshot = Some(s)),
                Some(snapshot) => snapshot.restore(root),
            };
            // What a program left (a process that would not end, a tree
            // too deep to walk) is its run's answer, not the service's.
            if let Err(e) = done {
                let note = format!(
                    "whipcode: {} could not be put back for this run: {e}\n",
                    job.workdir
                );
                send(sink, &Event::Stderr(note.into_bytes()));
                stage_status = Some(ExitStatus::from_raw(126 << 8));
            }
        }
        let steps = if stage_status.is_none() {
            &stage.steps[..]
        } else {
            &[]
        };
        for (step, argv) in steps.iter().enumerate() {
            let stdin = if stage.options.stdin && step + 1 == stage.steps.len() {
                if job.interactive {
                    Input::Pieces(controls.input.take())
                } else {
                    Input::Bytes(job.stdin.clone())
                }
            } else {
                Input::Nothing
            };
            let outcome = match run_step(job, argv, &stage.options, stdin, sink) {
                Ok(outcome) => outcome,
                Err(e) => return Event::Error(format!("cannot run `{}`: {e}", argv[0])),
            };
            let ok = outcome.success();
            stage_status = Some(outcome);
            if !ok {
                break;
            }
        }
        let Some(stage_status) = stage_status else {
            continue;
        };
        let cpu_now = children_cpu_micros();
        let report = ExitReport {
            code: stage_status.code(),
            signal: stage_status.signal(),
            cpu_micros: cpu_now.saturating_sub(cpu_before),
        };
        cpu_before = cpu_now;
        send(sink, &Event::StageEnd(index as u32, report));
        let ok = stage_status.success();
        status = Some(stage_status);
        if !ok {
            break;
        }
    }
    let status = status.expect("at least one step ran");
    Event::Exit(ExitReport {
        code: status.code(),
        signal: status.signal(),
        cpu_micros: children_cpu_micros(),
    })
}

/// Creates `name` (a relative path, checked again here) under `workdir`,
/// making its directories; nothing is created through an existing path or
/// link (the working directory is fresh, and no program has run yet).
fn write_new_file(workdir: &str, name: &str, content: &[u8]) -> io::Result<()> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_owned());
    if normalize_path(name).as_deref() != Ok(name) {
        return Err(invalid("not a relative path in normal form"));
    }
    let mut path = std::path::PathBuf::from(workdir);
    let mut parts = name.split('/').peekable();
    while let Some(part) = parts.next() {
        path.push(part);
        if parts.peek().is_none() {
            break;
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(invalid("a parent is not a directory")),
            Err(_) => {
                fs::create_dir(&path)?;
                workdir::hand_over(&path)?;
            }
        }
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)?;
    workdir::hand_over(&path)?;
    file.write_all(content)
}

/// What a step reads on its stdin.
enum Input {
    /// `/dev/null` (every step but the job's last).
    Nothing,
    /// These bytes, then the end.
    Bytes(Vec<u8>),
    /// Pieces as the server sends them, until `None` or the server's close.
    Pieces(Option<mpsc::Receiver<Option<Vec<u8>>>>),
}

fn run_step(
    job: &Job,
    argv: &[String],
    options: &StageOptions,
    input: Input,
    sink: &Sink,
) -> io::Result<ExitStatus> {
    use std::os::unix::process::CommandExt;
    let mut command = if options.file_size.is_some() || options.stack.is_some() {
        let mut launcher = Command::new(std::env::current_exe()?);
        launcher.arg(LIMITS_FLAG).args([
            options.file_size.unwrap_or(0).to_string(),
            options.stack.unwrap_or(0).to_string(),
            "--".to_owned(),
        ]);
        launcher.args(argv);
        launcher
    } else {
        let mut direct = Command::new(&argv[0]);
        direct.args(&argv[1..]);
        direct
    };
    command
        .env_clear()
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&job.workdir)
        // Its own process group: a signal reaches the step and its children.
        .process_group(0);
    as_program(&mut command);
    let stdin = if matches!(input, Input::Nothing) {
        command.stdin(Stdio::null());
        None
    } else {
        let (reader, writer) = program_pipe()?;
        command.stdin(reader);
        Some(writer)
    };
    // One pipe for both streams when they are merged: the order written.
    let outputs = if options.stderr_to_stdout {
        let (reader, writer) = program_pipe()?;
        command.stdout(writer.try_clone()?).stderr(writer);
        vec![(reader, tag::STDOUT)]
    } else {
        let (out, out_writer) = program_pipe()?;
        let (err, err_writer) = program_pipe()?;
        command.stdout(out_writer).stderr(err_writer);
        vec![(out, tag::STDOUT), (err, tag::STDERR)]
    };
    // The threads first, so that a step is never left running without
    // them: one that cannot be made (the pids limit, reached by what the
    // program left running) is a step that could not start.
    let (done_tx, done_rx) = mpsc::channel();
    if outputs.len() == 1 {
        // One stream: the drain below waits for two ends.
        let _ = done_tx.send(());
    }
    let threads = stdin
        .map_or(Ok(()), |stdin| feed(stdin, input))
        .and_then(|()| {
            outputs
                .into_iter()
                .try_for_each(|(reader, stream)| forward(Box::new(reader), stream, sink, &done_tx))
        });
    drop(done_tx);
    if let Err(e) = threads {
        return not_started(&argv[0], e, sink);
    }
    let spawned = command.spawn();
    // The command holds the pipes' other ends: closed here, so a reader
    // sees the end when the step's own copies close (and the threads end at
    // once when it did not start).
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return not_started(&argv[0], e, sink),
    };
    RUNNING.store(child.id() as i32, Ordering::SeqCst);

    let status = child.wait();
    RUNNING.store(0, Ordering::SeqCst);
    let status = status?;
    let deadline = std::time::Instant::now() + DRAIN_GRACE;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    Ok(status)
}

/// A step that could not start ends as a shell reports it: its reason on
/// stderr and status 127 when there is no such file (no `a.out` after
/// `gcc -fsyntax-only`, a missing interpreter), 126 for any other reason (not
/// a program, a bad interpreter, no room left in the container). It is the
/// run's answer, like any other failing step: what the runner itself needs
/// to start steps (the program's user mapped, its capabilities) was checked
/// when it started (see [`sealed`]).
fn not_started(program: &str, error: io::Error, sink: &Sink) -> io::Result<ExitStatus> {
    let (code, line) = as_a_shell_says(program, &error);
    send(sink, &Event::Stderr(line.into_bytes()));
    Ok(ExitStatus::from_raw(code << 8))
}

/// The status and the line a shell gives for `program` that could not be
/// executed: `prog: No such file or directory`, 127; otherwise 126.
fn as_a_shell_says(program: &str, error: &io::Error) -> (i32, String) {
    let code = if error.kind() == io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let text = error.to_string();
    let reason = text.split(" (os error").next().unwrap_or(&text);
    (code, format!("{program}: {reason}\n"))
}

/// Makes `command` start as [`PROGRAM_ID`] when the runner is root: no
/// supplementary groups (std drops them when root sets a uid), and the
/// change of uid from 0 clears every capability, so the step and whatever
/// it starts hold none (and `no_new_privileges` keeps it so across exec).
/// A runner that is not root runs steps as itself.
fn as_program(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    if rustix::process::geteuid().is_root() {
        command.uid(PROGRAM_ID).gid(PROGRAM_ID);
    }
}

/// A pipe for a step's stdin, stdout or stderr, owned by [`PROGRAM_ID`]
/// when the runner is root: a pipe belongs to its creator with mode 0600,
/// and a program that opens `/dev/stdin` or `/dev/stdout` (Fortran's
/// `open(file='/dev/stdin')`, `echo > /dev/stderr`) reopens it through
/// `/proc/self/fd`, which checks that owner.
fn program_pipe() -> io::Result<(io::PipeReader, io::PipeWriter)> {
    let (reader, writer) = io::pipe()?;
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::fchown(&reader, Some(PROGRAM_ID), Some(PROGRAM_ID))?;
    }
    Ok((reader, writer))
}

/// Writes `input` to a step's stdin on a thread of its own: a program that
/// never reads its stdin must not block the runner.
fn feed(mut stdin: io::PipeWriter, input: Input) -> io::Result<()> {
    thread::Builder::new().spawn(move || match input {
        Input::Bytes(bytes) => {
            let _ = stdin.write_all(&bytes);
        }
        Input::Pieces(Some(pieces)) => {
            while let Ok(Some(bytes)) = pieces.recv() {
                if stdin.write_all(&bytes).is_err() {
                    break;
                }
            }
        }
        Input::Pieces(None) | Input::Nothing => {}
    })?;
    Ok(())
}

/// Forwards `source` as `stream` frames on a thread of its own; says so on
/// `done` at its end.
fn forward(
    mut source: Box<dyn Read + Send>,
    stream: u8,
    sink: &Sink,
    done: &mpsc::Sender<()>,
) -> io::Result<()> {
    let sink = Arc::clone(sink);
    let done = done.clone();
    thread::Builder::new().spawn(move || {
        let mut buf = vec![0u8; OUTPUT_CHUNK];
        loop {
            match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let chunk = buf[..n].to_vec();
                    let event = if stream == tag::STDOUT {
                        Event::Stdout(chunk)
                    } else {
                        Event::Stderr(chunk)
                    };
                    send(&sink, &event);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = done.send(());
    })?;
    Ok(())
}

/// CPU time of waited-for children, from `/proc/self/stat` (cutime + cstime,
/// in USER_HZ = 100 ticks per second on Linux).
fn children_cpu_micros() -> u64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0;
    };
    // Fields after the command name start at field 3 (state); cutime is 16, cstime 17.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = [13usize, 14]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks * 10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_programs_id_is_mapped_only_inside_a_listed_range() {
        let per_run = "         0 1000000000      65536\n";
        assert!(maps(per_run, PROGRAM_ID));
        let host = "         0          0 4294967295\n";
        assert!(maps(host, PROGRAM_ID));
        let sized_for_root = "         0 1000000000          1\n";
        assert!(!maps(sized_for_root, PROGRAM_ID));
        assert!(!maps("", PROGRAM_ID));
        assert!(maps("0 5 10\n65534 7 1\n", PROGRAM_ID));
    }
}
