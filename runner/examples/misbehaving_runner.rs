//! A runner that breaks the protocol on purpose, for the server's tests
//! (`--runner` points at it): it reads the job, reports the program's start
//! and some output, then does what the job's source file asks:
//!
//! - `garbage`: a malformed frame, then waits;
//! - `empty`: empty output frames, as fast as it can, until it is stopped;
//! - `stderr`: raw bytes on its stderr (outside the protocol), likewise.
//!
//! A sealed runner leaves a program no way to do this, so this is the only
//! way to check that the server bounds what a container sends.

use std::io::{self, Write};

use whipcode_runner::{write_event, Event, Job};

fn main() {
    let Ok(job) = Job::read_from(&mut io::stdin().lock()) else {
        return;
    };
    let mode = job
        .files
        .first()
        .map(|f| String::from_utf8_lossy(&f.content).trim().to_owned())
        .unwrap_or_default();
    let mut out = io::stdout().lock();
    let _ = write_event(&mut out, &Event::Started);
    let _ = write_event(&mut out, &Event::Stdout(b"captured before\n".to_vec()));
    match mode.as_str() {
        "garbage" => {
            let _ = out.write_all(&[0xee, 0, 0, 0, 3, b'b', b'a', b'd']);
            let _ = out.flush();
        }
        "empty" => {
            let empty = Event::Stdout(Vec::new());
            while write_event(&mut out, &empty).is_ok() {}
        }
        "stderr" => {
            let junk = vec![b'x'; 64 * 1024];
            let mut err = io::stderr().lock();
            while err.write_all(&junk).is_ok() {}
        }
        _ => {}
    }
    std::thread::sleep(std::time::Duration::from_secs(60));
}
