//! The framed protocol between the whipcode server and its in-container runner.
//!
//! Every message is a frame: one tag byte, a big-endian `u32` payload length,
//! then the payload. The server sends one [`Job`] (a sequence of frames ending
//! with [`tag::GO`]); the runner answers with a stream of [`Event`]s ending with
//! exactly one [`Event::Exit`] or [`Event::Error`].
//!
//! A job has stages (compile, run), each of one or more steps. Before each
//! stage the runner sends [`Event::StageStart`] and waits for a
//! [`tag::CONTINUE`] frame: the server sets that stage's limits on the
//! container's cgroup in between, so no stage runs under another's limits.
//! After each stage comes [`Event::StageEnd`] with its status; a stage that
//! fails ends the job.
//!
//! After the job the server sends [`Control`] frames: the go-ahead of each
//! stage, and, for an interactive job, the program's stdin in pieces while
//! it runs, the end of that stdin, and signals to deliver to the running
//! step. Output frames go out as the program writes them, in both modes.
//!
//! The runner is root of the container's user namespace with a few
//! capabilities; every step runs as [`PROGRAM_ID`] with none, so no program
//! can change the runner's limits, priority or life. Still, the server treats
//! events as the program's own output (the runner forwards what the program
//! writes): it applies its byte caps and deadlines from outside and never lets
//! an event drive a decision about limits or cleanup.

use std::io::{self, Read, Write};

mod tree;
pub use tree::{Conflict, FileTree};

/// Bumped on any incompatible change; the runner refuses a job of another version.
pub const PROTOCOL_VERSION: u32 = 4;

/// The user and group every step runs as: `nobody`, with no supplementary
/// groups and no capabilities. The runner itself is root of the container's
/// user namespace (never the host's with the default per-run namespace), so a
/// program, a different user, cannot signal it, change its limits
/// (`prlimit`), priority or affinity, or read its memory.
pub const PROGRAM_ID: u32 = 65534;

/// The largest payload either side accepts in one frame.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The largest output chunk the runner puts in one frame.
pub const OUTPUT_CHUNK: usize = 32 * 1024;

/// Frame tags. Job frames are upper case, event frames are digits and symbols.
pub mod tag {
    pub const HELLO: u8 = b'H';
    pub const WORKDIR: u8 = b'W';
    pub const FILE: u8 = b'F';
    pub const ENV: u8 = b'E';
    pub const STAGE: u8 = b'T';
    /// After a stage: its [`StageOptions`](super::StageOptions).
    pub const STAGE_OPTIONS: u8 = b'O';
    pub const STEP: u8 = b'S';
    pub const STDIN: u8 = b'I';
    /// The job is interactive: its stdin comes in [`INPUT`] frames.
    pub const INTERACTIVE: u8 = b'N';
    pub const GO: u8 = b'G';
    /// After the job, one per stage: the server has set the stage's limits.
    pub const CONTINUE: u8 = b'C';
    /// After the job (interactive): bytes for the program's stdin.
    pub const INPUT: u8 = b'i';
    /// After the job (interactive): the program's stdin is closed.
    pub const INPUT_END: u8 = b'e';
    /// After the job: a signal number (`i32`) for the running step.
    pub const SIGNAL: u8 = b'k';

    pub const STARTED: u8 = b'^';
    pub const STAGE_START: u8 = b's';
    pub const STAGE_END: u8 = b'x';
    pub const STDOUT: u8 = b'1';
    pub const STDERR: u8 = b'2';
    pub const EXIT: u8 = b'X';
    pub const ERROR: u8 = b'!';
}

/// One file the runner writes into the working directory before the first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    /// A relative path in normal form (see [`normalize_path`]).
    pub name: String,
    pub content: Vec<u8>,
}

/// The longest file path a job may name.
pub const MAX_PATH: usize = 1024;

/// The longest name of one path component (Linux's NAME_MAX).
pub const MAX_COMPONENT: usize = 255;

/// `name` as a path inside the working directory: `.` and empty components
/// dropped (`./a//b` is `a/b`). Refused: an absolute path, a `..`
/// component, a NUL, nothing left, more than [`MAX_PATH`] bytes, a
/// component over [`MAX_COMPONENT`] bytes. The server applies it at its
/// border and the runner again before it writes.
pub fn normalize_path(name: &str) -> Result<String, &'static str> {
    if name.contains('\0') {
        return Err("contains a NUL character");
    }
    if name.starts_with('/') {
        return Err("is absolute");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("contains a `..` component"),
            part if part.len() > MAX_COMPONENT => {
                return Err("has a component longer than 255 bytes")
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("is empty");
    }
    let path = parts.join("/");
    if path.len() > MAX_PATH {
        return Err("is longer than 1024 bytes");
    }
    Ok(path)
}

/// One stage of a job: its name (`compile`, `run`) and its steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    /// argv lists run in order; a step that fails ends the job with its status.
    pub steps: Vec<Vec<String>>,
    pub options: StageOptions,
}

/// How one stage's steps run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOptions {
    /// The stage's last step reads the job's stdin (the others `/dev/null`).
    pub stdin: bool,
    /// The working directory as it was when the first such stage began:
    /// that stage records it, each later one first ends every other
    /// process and puts it back (one compile, several runs, none leaving
    /// work for the next).
    pub fresh_workdir: bool,
    /// `RLIMIT_FSIZE` of the stage's steps, in bytes.
    pub file_size: Option<u64>,
    /// `RLIMIT_STACK` of the stage's steps, in bytes.
    pub stack: Option<u64>,
    /// The steps' stderr is their stdout: one pipe, so the two keep the
    /// order they were written in (reported as stdout).
    pub stderr_to_stdout: bool,
}

impl StageOptions {
    fn encode(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[0] = u8::from(self.stdin)
            | (u8::from(self.fresh_workdir) << 1)
            | (u8::from(self.stderr_to_stdout) << 2);
        out[1..9].copy_from_slice(&self.file_size.unwrap_or(0).to_be_bytes());
        out[9..].copy_from_slice(&self.stack.unwrap_or(0).to_be_bytes());
        out
    }

    fn decode(payload: &[u8]) -> io::Result<StageOptions> {
        let payload: &[u8; 17] = payload
            .try_into()
            .map_err(|_| invalid("bad stage options"))?;
        let limit = |bytes: &[u8]| {
            let value = u64::from_be_bytes(bytes.try_into().unwrap_or_default());
            (value != 0).then_some(value)
        };
        Ok(StageOptions {
            stdin: payload[0] & 1 != 0,
            fresh_workdir: payload[0] & 2 != 0,
            stderr_to_stdout: payload[0] & 4 != 0,
            file_size: limit(&payload[1..9]),
            stack: limit(&payload[9..]),
        })
    }
}

/// Everything one run needs, sent to the runner on its stdin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// Absolute directory the files go into and every step runs in.
    pub workdir: String,
    pub files: Vec<JobFile>,
    /// The complete environment of every step (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Stages run in order; a stage that fails ends the job.
    pub stages: Vec<Stage>,
    /// Bytes given, exactly, to the stdin of the last step of each stage
    /// marked [`StageOptions::stdin`]; other steps read `/dev/null`.
    pub stdin: Vec<u8>,
    /// The first stdin-reading step's stdin comes in [`Control::Input`]
    /// frames instead, until [`Control::InputEnd`].
    pub interactive: bool,
}

/// One message from the server after the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The next stage may start (its limits are set).
    Continue,
    /// Bytes for the program's stdin (interactive jobs).
    Input(Vec<u8>),
    /// The program's stdin ends (interactive jobs).
    InputEnd,
    /// Deliver this signal to the running step's processes.
    Signal(i32),
}

impl Control {
    /// Appends this message as one frame.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Control::Continue => put_frame(out, tag::CONTINUE, &[]),
            Control::Input(bytes) => put_frame(out, tag::INPUT, bytes),
            Control::InputEnd => put_frame(out, tag::INPUT_END, &[]),
            Control::Signal(n) => put_frame(out, tag::SIGNAL, &n.to_be_bytes()),
        }
    }

    /// This message as one frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decodes one control frame.
    pub fn decode(tag: u8, payload: Vec<u8>) -> io::Result<Control> {
        Ok(match tag {
            tag::CONTINUE => Control::Continue,
            tag::INPUT => Control::Input(payload),
            tag::INPUT_END => Control::InputEnd,
            tag::SIGNAL => Control::Signal(
                <[u8; 4]>::try_from(payload.as_slice())
                    .map(i32::from_be_bytes)
                    .map_err(|_| invalid("bad signal frame"))?,
            ),
            other => return Err(invalid(format!("unknown control frame {other:#x}"))),
        })
    }
}

/// How the run ended, as seen by the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReport {
    /// Exit code when the last step that ran exited normally.
    pub code: Option<i32>,
    /// Signal number when it was killed by a signal.
    pub signal: Option<i32>,
    /// User plus system CPU time of all waited-for processes, in microseconds.
    pub cpu_micros: u64,
}

/// One message from the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The job was accepted and its files written.
    Started,
    /// Stage `n` (from 0) is ready; the runner waits for [`tag::CONTINUE`].
    StageStart(u32),
    /// Stage `n` ended so.
    StageEnd(u32, ExitReport),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(ExitReport),
    /// The runner could not carry out the job (bad job, a step that cannot start).
    Error(String),
}

/// Appends one frame to `out`.
pub fn put_frame(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame starts.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (tag, len) = parse_header(&header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((tag, payload)))
}

/// Splits a 5-byte frame header into its tag and checked payload length.
pub fn parse_header(header: &[u8; 5]) -> io::Result<(u8, usize)> {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(invalid(format!("frame of {len} bytes exceeds the limit")));
    }
    Ok((header[0], len))
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn join_nul(items: &[String]) -> Vec<u8> {
    items.join("\0").into_bytes()
}

fn split_nul(payload: Vec<u8>) -> io::Result<Vec<String>> {
    let text = String::from_utf8(payload).map_err(|_| invalid("frame is not UTF-8"))?;
    Ok(text.split('\0').map(str::to_owned).collect())
}

/// One piece of an encoded job (see [`Job::encode_pieces`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Frame bytes encoded here.
    Encoded(Vec<u8>),
    /// The content of the caller's file at this index.
    File(usize),
    /// The job's stdin, as the caller holds it.
    Stdin,
}

impl Job {
    /// The job as the frames the runner reads, ending with [`tag::GO`].
    pub fn encode(&self) -> Vec<u8> {
        let files = self.files.iter().map(|f| (f.name.as_str(), &f.content[..]));
        self.encode_with_files(files)
    }

    /// [`Job::encode`] with `files` in place of the job's own, as one buffer.
    pub fn encode_with_files<'a>(
        &self,
        files: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
    ) -> Vec<u8> {
        let named: Vec<(&str, usize)> = files.clone().map(|(n, c)| (n, c.len())).collect();
        let contents: Vec<&[u8]> = files.map(|(_, c)| c).collect();
        let sizes: usize = named.iter().map(|(n, len)| 7 + n.len() + len).sum();
        let mut out = Vec::with_capacity(sizes + self.stdin.len() + 4096);
        for piece in self.encode_pieces(&named, self.stdin.len()) {
            match piece {
                Piece::Encoded(bytes) => out.extend_from_slice(&bytes),
                Piece::File(index) => out.extend_from_slice(contents[index]),
                Piece::Stdin => out.extend_from_slice(&self.stdin),
            }
        }
        out
    }

    /// The job as the pieces of its frames, in order: what is encoded here,
    /// and where the content of file `i` of `files` (name, length) and of
    /// stdin (`stdin_len` bytes; the job's own is not read) go. A caller
    /// that holds the files and stdin elsewhere writes them as they are,
    /// never copied into the job (they may be megabytes).
    pub fn encode_pieces(&self, files: &[(&str, usize)], stdin_len: usize) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut out = Vec::with_capacity(4096);
        put_frame(&mut out, tag::HELLO, &PROTOCOL_VERSION.to_be_bytes());
        put_frame(&mut out, tag::WORKDIR, self.workdir.as_bytes());
        for (index, (name, len)) in files.iter().enumerate() {
            out.push(tag::FILE);
            out.extend_from_slice(&((2 + name.len() + len) as u32).to_be_bytes());
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            pieces.push(Piece::Encoded(std::mem::take(&mut out)));
            pieces.push(Piece::File(index));
        }
        for (key, value) in &self.env {
            put_frame(&mut out, tag::ENV, &join_nul(&[key.clone(), value.clone()]));
        }
        for stage in &self.stages {
            put_frame(&mut out, tag::STAGE, stage.name.as_bytes());
            put_frame(&mut out, tag::STAGE_OPTIONS, &stage.options.encode());
            for step in &stage.steps {
                put_frame(&mut out, tag::STEP, &join_nul(step));
            }
        }
        out.push(tag::STDIN);
        out.extend_from_slice(&(stdin_len as u32).to_be_bytes());
        pieces.push(Piece::Encoded(std::mem::take(&mut out)));
        pieces.push(Piece::Stdin);
        if self.interactive {
            put_frame(&mut out, tag::INTERACTIVE, &[]);
        }
        put_frame(&mut out, tag::GO, &[]);
        pieces.push(Piece::Encoded(out));
        pieces
    }

    /// Reads a job written by [`Job::encode`].
    pub fn read_from(r: &mut impl Read) -> io::Result<Job> {
        let mut job = Job::default();
        let mut hello = false;
        loop {
            let (tag, payload) = read_frame(r)?.ok_or_else(|| invalid("job ended early"))?;
            if !hello && tag != tag::HELLO {
                return Err(invalid("job does not start with a version"));
            }
            match tag {
                tag::HELLO => {
                    let version = <[u8; 4]>::try_from(payload.as_slice())
                        .map(u32::from_be_bytes)
                        .map_err(|_| invalid("bad version frame"))?;
                    if version != PROTOCOL_VERSION {
                        return Err(invalid(format!(
                            "protocol version {version}, runner speaks {PROTOCOL_VERSION}"
                        )));
                    }
                    hello = true;
                }
                tag::WORKDIR => {
                    job.workdir = String::from_utf8(payload).map_err(|_| invalid("bad workdir"))?
                }
                tag::FILE => job.files.push(decode_file(payload)?),
                tag::ENV => {
                    let mut parts = split_nul(payload)?;
                    if parts.len() != 2 {
                        return Err(invalid("env frame needs a name and a value"));
                    }
                    let value = parts.pop().unwrap_or_default();
                    let key = parts.pop().unwrap_or_default();
                    job.env.push((key, value));
                }
                tag::STAGE => job.stages.push(Stage {
                    name: String::from_utf8(payload).map_err(|_| invalid("bad stage name"))?,
                    ..Stage::default()
                }),
                tag::STAGE_OPTIONS => {
                    job.stages
                        .last_mut()
                        .ok_or_else(|| invalid("stage options before any stage"))?
                        .options = StageOptions::decode(&payload)?
                }
                tag::STEP => job
                    .stages
                    .last_mut()
                    .ok_or_else(|| invalid("a step before any stage"))?
                    .steps
                    .push(split_nul(payload)?),
                tag::STDIN => job.stdin = payload,
                tag::INTERACTIVE => job.interactive = true,
                tag::GO => return Ok(job),
                other => return Err(invalid(format!("unknown job frame {other:#x}"))),
            }
        }
    }
}

fn decode_file(payload: Vec<u8>) -> io::Result<JobFile> {
    if payload.len() < 2 {
        return Err(invalid("short file frame"));
    }
    let name_len = u16::from_be_bytes([payload[0], payload[1]]) as usize;
    let name = payload
        .get(2..2 + name_len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or_else(|| invalid("bad file name"))?
        .to_owned();
    if normalize_path(&name).as_deref() != Ok(name.as_str()) {
        return Err(invalid(format!(
            "file name {name:?} is not a relative path in normal form"
        )));
    }
    Ok(JobFile {
        name,
        content: payload[2 + name_len..].to_vec(),
    })
}

impl Event {
    /// Appends this event as one frame.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Event::Started => put_frame(out, tag::STARTED, &[]),
            Event::Stdout(bytes) => put_frame(out, tag::STDOUT, bytes),
            Event::Stderr(bytes) => put_frame(out, tag::STDERR, bytes),
            Event::Error(message) => put_frame(out, tag::ERROR, message.as_bytes()),
            Event::StageStart(n) => put_frame(out, tag::STAGE_START, &n.to_be_bytes()),
            Event::StageEnd(n, report) => {
                let mut payload = n.to_be_bytes().to_vec();
                payload.extend_from_slice(&report.encode());
                put_frame(out, tag::STAGE_END, &payload);
            }
            Event::Exit(report) => put_frame(out, tag::EXIT, &report.encode()),
        }
    }

    /// Decodes one event frame.
    pub fn decode(tag: u8, payload: Vec<u8>) -> io::Result<Event> {
        Ok(match tag {
            tag::STARTED => Event::Started,
            tag::STDOUT => Event::Stdout(payload),
            tag::STDERR => Event::Stderr(payload),
            tag::ERROR => Event::Error(String::from_utf8_lossy(&payload).into_owned()),
            tag::EXIT => Event::Exit(ExitReport::decode(&payload)?),
            tag::STAGE_START => Event::StageStart(stage_index(&payload)?),
            tag::STAGE_END => {
                let (index, report) = payload.split_at(payload.len().min(4));
                Event::StageEnd(stage_index(index)?, ExitReport::decode(report)?)
            }
            other => return Err(invalid(format!("unknown event frame {other:#x}"))),
        })
    }
}

fn stage_index(payload: &[u8]) -> io::Result<u32> {
    <[u8; 4]>::try_from(payload)
        .map(u32::from_be_bytes)
        .map_err(|_| invalid("bad stage index"))
}

impl ExitReport {
    fn encode(&self) -> [u8; 13] {
        let (kind, value) = match (self.code, self.signal) {
            (_, Some(signal)) => (1u8, signal),
            (Some(code), None) => (0u8, code),
            (None, None) => (2u8, 0),
        };
        let mut out = [0u8; 13];
        out[0] = kind;
        out[1..5].copy_from_slice(&value.to_be_bytes());
        out[5..].copy_from_slice(&self.cpu_micros.to_be_bytes());
        out
    }

    fn decode(payload: &[u8]) -> io::Result<ExitReport> {
        let payload: &[u8; 13] = payload.try_into().map_err(|_| invalid("bad exit report"))?;
        let value = i32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
        let mut cpu = [0u8; 8];
        cpu.copy_from_slice(&payload[5..13]);
        let (code, signal) = match payload[0] {
            0 => (Some(value), None),
            1 => (None, Some(value)),
            _ => (None, None),
        };
        Ok(ExitReport {
            code,
            signal,
            cpu_micros: u64::from_be_bytes(cpu),
        })
    }
}

/// Writes whole frames to a shared sink; used by the runner's output threads.
pub fn write_event(w: &mut impl Write, event: &Event) -> io::Result<()> {
    let mut buf = Vec::new();
    event.encode_into(&mut buf);
    w.write_all(&buf)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_job() -> Job {
        Job {
            workdir: "/tmp".into(),
            files: vec![JobFile {
                name: "source.py".into(),
                content: b"print('\\0')\n\x00\xff".to_vec(),
            }],
            env: vec![
                ("PATH".into(), "/usr/bin".into()),
                ("EMPTY".into(), String::new()),
            ],
            stages: vec![
                Stage {
                    name: "compile".into(),
                    steps: vec![vec!["gcc".into(), "-O2".into(), "source.c".into()]],
                    options: StageOptions::default(),
                },
                Stage {
                    name: "run".into(),
                    steps: vec![vec!["./a.out".into()]],
                    options: StageOptions {
                        stdin: true,
                        fresh_workdir: true,
                        file_size: Some(1 << 20),
                        stack: Some(64_000 * 1024),
                        stderr_to_stdout: true,
                    },
                },
            ],
            stdin: b"line one\n\n-n \\t\r\n".to_vec(),
            interactive: false,
        }
    }

    #[test]
    fn an_interactive_job_and_its_controls_survive_encoding() {
        let job = Job {
            interactive: true,
            ..sample_job()
        };
        let bytes = job.encode();
        assert_eq!(Job::read_from(&mut bytes.as_slice()).unwrap(), job);
        for control in [
            Control::Continue,
            Control::Input(b"a line\n\x00\xff".to_vec()),
            Control::Input(Vec::new()),
            Control::InputEnd,
            Control::Signal(15),
        ] {
            let bytes = control.encode();
            let (tag, payload) = read_frame(&mut bytes.as_slice()).unwrap().unwrap();
            assert_eq!(Control::decode(tag, payload).unwrap(), control);
        }
        assert!(Control::decode(tag::SIGNAL, vec![1]).is_err());
        assert!(Control::decode(tag::STDOUT, vec![]).is_err());
    }

    #[test]
    fn a_job_survives_encoding_byte_for_byte() {
        let job = sample_job();
        let bytes = job.encode();
        let back = Job::read_from(&mut bytes.as_slice()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn a_jobs_pieces_leave_its_files_and_stdin_to_the_caller() {
        let job = sample_job();
        let named: Vec<_> = job
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.content.len()))
            .collect();
        let pieces = job.encode_pieces(&named, job.stdin.len());
        let held: Vec<Piece> = pieces
            .iter()
            .filter(|p| !matches!(p, Piece::Encoded(_)))
            .cloned()
            .collect();
        let expected: Vec<Piece> = (0..named.len())
            .map(Piece::File)
            .chain([Piece::Stdin])
            .collect();
        assert_eq!(held, expected);
        let mut joined = Vec::new();
        for piece in &pieces {
            match piece {
                Piece::Encoded(bytes) => joined.extend_from_slice(bytes),
                Piece::File(index) => joined.extend_from_slice(&job.files[*index].content),
                Piece::Stdin => joined.extend_from_slice(&job.stdin),
            }
        }
        // Read back by the runner's own reader: the job, every field of it.
        assert_eq!(Job::read_from(&mut joined.as_slice()).unwrap(), job);
        let encoded: usize = pieces
            .iter()
            .map(|p| match p {
                Piece::Encoded(bytes) => bytes.len(),
                _ => 0,
            })
            .sum();
        let content: usize = job.files.iter().map(|f| f.content.len()).sum();
        assert_eq!(
            encoded + content + job.stdin.len(),
            joined.len(),
            "no content encoded here"
        );
    }

    #[test]
    fn a_job_of_another_version_is_refused() {
        let mut bytes = sample_job().encode();
        bytes[5..9].copy_from_slice(&99u32.to_be_bytes());
        let err = Job::read_from(&mut bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("protocol version 99"), "{err}");
    }

    #[test]
    fn a_truncated_job_is_an_error_not_a_partial_job() {
        let bytes = sample_job().encode();
        let cut = &bytes[..bytes.len() - 3];
        assert!(Job::read_from(&mut &cut[..]).is_err());
    }

    #[test]
    fn file_names_that_escape_or_are_not_normal_are_refused() {
        for bad in [
            "../etc/passwd",
            "/etc/x",
            "a/../../x",
            "",
            "a\0b",
            "./a",
            "a//b",
            ".",
        ] {
            let mut job = sample_job();
            job.files[0].name = bad.into();
            let bytes = job.encode();
            assert!(Job::read_from(&mut bytes.as_slice()).is_err(), "{bad:?}");
        }
        let mut job = sample_job();
        job.files[0].name = "pkg/sub/mod.py".into();
        let bytes = job.encode();
        assert_eq!(Job::read_from(&mut bytes.as_slice()).unwrap(), job);
    }

    #[test]
    fn paths_are_normalised_or_refused_with_a_reason() {
        assert_eq!(normalize_path("./a//b/").unwrap(), "a/b");
        assert_eq!(normalize_path("main.c").unwrap(), "main.c");
        assert_eq!(
            normalize_path("../x").unwrap_err(),
            "contains a `..` component"
        );
        assert_eq!(
            normalize_path("a/../../x").unwrap_err(),
            "contains a `..` component"
        );
        assert_eq!(normalize_path("/etc/x").unwrap_err(), "is absolute");
        assert_eq!(normalize_path("./").unwrap_err(), "is empty");
        assert_eq!(
            normalize_path("a\0").unwrap_err(),
            "contains a NUL character"
        );
        assert!(normalize_path(&"a".repeat(MAX_PATH + 1)).is_err());
        assert_eq!(
            normalize_path(&format!("d/{}", "a".repeat(256))).unwrap_err(),
            "has a component longer than 255 bytes"
        );
        let longest = "a".repeat(MAX_COMPONENT);
        assert_eq!(normalize_path(&longest).unwrap(), longest);
        assert_eq!(
            normalize_path(&[longest.as_str(); 5].join("/")).unwrap_err(),
            "is longer than 1024 bytes"
        );
    }

    #[test]
    fn events_round_trip() {
        let events = [
            Event::Started,
            Event::Stdout(b"out".to_vec()),
            Event::Stderr(vec![0xff, 0]),
            Event::Exit(ExitReport {
                code: Some(3),
                signal: None,
                cpu_micros: 12_345,
            }),
            Event::Exit(ExitReport {
                code: None,
                signal: Some(9),
                cpu_micros: 1,
            }),
            Event::Error("no such file".into()),
            Event::StageStart(1),
            Event::StageEnd(
                0,
                ExitReport {
                    code: Some(1),
                    signal: None,
                    cpu_micros: 7,
                },
            ),
        ];
        for event in events {
            let mut buf = Vec::new();
            event.encode_into(&mut buf);
            let (tag, payload) = read_frame(&mut buf.as_slice()).unwrap().unwrap();
            assert_eq!(Event::decode(tag, payload).unwrap(), event);
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_allocation() {
        let mut header = [tag::STDOUT, 0, 0, 0, 0];
        header[1..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&header).is_err());
    }
}
