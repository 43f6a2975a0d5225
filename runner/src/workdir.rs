//! The working directory kept as it was after the compile stage, so that
//! each of several runs starts from that state: recorded in the runner's
//! own memory (PID 1 is another user than the program, and not dumpable, so
//! no program can read or alter it), and put back after every other process
//! is ended. What the runner writes there is handed to the program's user.

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use whipcode_runner::PROGRAM_ID;

/// One thing in the directory, by its path relative to the directory.
enum Entry {
    Dir(PathBuf, u32),
    File(PathBuf, Vec<u8>, u32),
    Link(PathBuf, PathBuf),
}

/// The directory's tree, as recorded.
pub struct Snapshot {
    entries: Vec<Entry>,
}

impl Snapshot {
    /// Ends every process but this one (a compile step's leftover must not
    /// change the tree while it is read), then records everything under
    /// `root` (links as links, never followed).
    pub fn record(root: &Path) -> io::Result<Snapshot> {
        if !end_other_processes() {
            return Err(io::Error::other(
                "a process of the compile stage could not be ended",
            ));
        }
        Snapshot::read(root)
    }

    /// Everything under `root`, as it is now.
    fn read(root: &Path) -> io::Result<Snapshot> {
        let mut entries = Vec::new();
        record_dir(root, Path::new(""), &mut entries)?;
        Ok(Snapshot { entries })
    }

    /// Ends every process but this one, empties `root` and writes the
    /// recorded tree back.
    pub fn restore(&self, root: &Path) -> io::Result<()> {
        if !end_other_processes() {
            return Err(io::Error::other(
                "a process of the previous run could not be ended",
            ));
        }
        for shared in SHARED {
            match empty(Path::new(shared)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.write_back(root)
    }

    /// Empties `root` and writes the recorded tree back.
    fn write_back(&self, root: &Path) -> io::Result<()> {
        empty(root)?;
        for entry in &self.entries {
            match entry {
                Entry::Dir(rel, _) => fs::create_dir(root.join(rel))?,
                Entry::File(rel, content, mode) => {
                    let path = root.join(rel);
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)?;
                    io::Write::write_all(&mut file, content)?;
                    fs::set_permissions(&path, fs::Permissions::from_mode(*mode))?;
                }
                Entry::Link(rel, target) => std::os::unix::fs::symlink(target, root.join(rel))?,
            }
            hand_over(&root.join(entry.path()))?;
        }
        // Directories' own modes last, innermost first: a read-only one
        // must not stop what goes in it.
        for entry in self.entries.iter().rev() {
            if let Entry::Dir(rel, mode) = entry {
                fs::set_permissions(root.join(rel), fs::Permissions::from_mode(*mode))?;
            }
        }
        Ok(())
    }
}

impl Entry {
    fn path(&self) -> &Path {
        match self {
            Entry::Dir(rel, _) | Entry::File(rel, _, _) | Entry::Link(rel, _) => rel,
        }
    }
}

/// Gives `path` (a link itself, never its target) to the program's user
/// when the runner is root (CAP_CHOWN), so the program owns the files it was
/// given, as it owns those it makes.
pub fn hand_over(path: &Path) -> io::Result<()> {
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(path, Some(PROGRAM_ID), Some(PROGRAM_ID))?;
    }
    Ok(())
}

fn record_dir(root: &Path, rel: &Path, entries: &mut Vec<Entry>) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let rel = rel.join(child.file_name());
        let meta = fs::symlink_metadata(root.join(&rel))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            entries.push(Entry::Link(rel.clone(), fs::read_link(root.join(&rel))?));
        } else if meta.is_dir() {
            entries.push(Entry::Dir(rel.clone(), mode));
            record_dir(root, &rel, entries)?;
        } else if meta.is_file() {
            entries.push(Entry::File(rel.clone(), fs::read(root.join(&rel))?, mode));
        }
        // Sockets, pipes and devices made by a compile step are not kept.
    }
    Ok(())
}

/// POSIX shared memory and semaphores (`shm_open`, `sem_open`) and message
/// queues (`mq_open`, where mounted): what a run left there is removed with
/// /tmp, so that runs start alike.
const SHARED: [&str; 2] = ["/dev/shm", "/dev/mqueue"];

/// Removes everything in `dir`.
fn empty(dir: &Path) -> io::Result<()> {
    for child in fs::read_dir(dir)? {
        let path = child?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            // std's removal goes by descriptor, so a path of any length
            // goes (as deep as the open-file limit allows); a directory the
            // program locked (chmod 000) is opened up first, by path.
            if fs::remove_dir_all(&path).is_err() {
                open_up(&path)?;
                fs::remove_dir_all(&path)?;
            }
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Gives the owner full rights on every directory under `dir`, so that a
/// program's `chmod 000` cannot keep its files in place.
fn open_up(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for child in fs::read_dir(dir)? {
        let path = child?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            open_up(&path)?;
        }
    }
    Ok(())
}

/// Kills every process of the container but PID 1 and reaps them all
/// (zombies count against the pids limit), waiting at most a second: a
/// process a run left behind must not touch the next run's files. `false`
/// when one survived.
///
/// PID 1 of a PID namespace is every process's ancestor there, so when it
/// has no child left, no other process is left: this needs no view of
/// `/proc` (which hides the program's processes from the runner, another
/// user). Killing is by kill(2) with pid -1, every process the caller may
/// signal but itself and init (with CAP_KILL, all of them); rustix spells
/// that call `kill_process_group(Pid::INIT, …)`.
///
/// Anywhere but as PID 1 that call would reach processes outside the run
/// (the host's, for a runner started by hand as root): there it ends
/// nothing and says so.
fn end_other_processes() -> bool {
    use rustix::process::{getpid, kill_process_group, wait, Pid, Signal, WaitOptions};
    if getpid() != Pid::INIT {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        // ESRCH: nothing left to signal.
        let _ = kill_process_group(Pid::INIT, Signal::KILL);
        loop {
            match wait(WaitOptions::NOHANG) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                // ECHILD: no child, so no process but this one.
                Err(_) => return true,
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_directory_is_as_it_was_recorded() {
        let dir = std::env::temp_dir().join(format!("whipcode-workdir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.out"), b"binary").unwrap();
        fs::set_permissions(dir.join("a.out"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("sub/data"), b"kept").unwrap();
        std::os::unix::fs::symlink("a.out", dir.join("link")).unwrap();
        // Not `record`, which as root would end every process it can signal.
        let snapshot = Snapshot::read(&dir).unwrap();

        fs::write(dir.join("left-by-run-1"), b"x").unwrap();
        fs::write(dir.join("sub/data"), b"changed").unwrap();
        fs::create_dir(dir.join("locked")).unwrap();
        fs::write(dir.join("locked/f"), b"x").unwrap();
        fs::set_permissions(dir.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::remove_file(dir.join("a.out")).unwrap();
        // Without ending other processes: that is for PID 1 in a container.
        snapshot.write_back(&dir).unwrap();
        assert!(!dir.join("left-by-run-1").exists());
        assert!(!dir.join("locked").exists());
        assert_eq!(fs::read(dir.join("sub/data")).unwrap(), b"kept");
        assert_eq!(fs::read(dir.join("a.out")).unwrap(), b"binary");
        let mode = fs::metadata(dir.join("a.out"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read_link(dir.join("link")).unwrap(), Path::new("a.out"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
