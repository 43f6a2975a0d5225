//! Build logs, written as root: in a directory only this user can reach,
//! each file created fresh and never through a link.
//!
//! The directory is made 0700 if missing; an existing one must be a real
//! directory (not a link), owned by this user and closed to group and
//! others, or the build stops and says so. Each log is then opened relative
//! to the directory's own descriptor, which is checked again (so the
//! directory cannot be swapped between check and use), removed and created
//! again with `O_CREAT | O_EXCL | O_NOFOLLOW`: a planted link is replaced,
//! never followed.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};

use rustix::fs::{Mode, OFlags};
use std::path::{Path, PathBuf};

/// Why the log directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogDirError {
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("{} is not a directory (a link?)", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} belongs to uid {owner}, not this user ({me}); remove it", path.display())]
    NotOurs { path: PathBuf, owner: u32, me: u32 },
    #[error("{} is open to group or others (mode {mode:o}); chmod 700 it", path.display())]
    Open { path: PathBuf, mode: u32 },
}

/// Makes (or checks) `dir` for logs.
pub fn prepare_dir(dir: &Path) -> Result<(), LogDirError> {
    let create = |path: &Path| {
        let path = path.to_owned();
        move |source| LogDirError::Create { path, source }
    };
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(create(parent))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(create(dir)(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(create(dir))?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.file_type().is_dir() {
        return Err(LogDirError::NotADirectory(dir.to_owned()));
    }
    if meta.uid() != me {
        return Err(LogDirError::NotOurs {
            path: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(LogDirError::Open {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// A new, empty log file at `path`, replacing whatever was there.
pub fn create(path: &Path) -> io::Result<File> {
    let (dir, name) = private_parent(path)?;
    match rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    open_in(&dir, name, OFlags::CREATE | OFlags::EXCL)
}

/// `path` opened to append to, created if missing; never through a link.
pub fn append(path: &Path) -> io::Result<File> {
    let (dir, name) = private_parent(path)?;
    open_in(&dir, name, OFlags::CREATE | OFlags::APPEND)
}

/// The directory holding `path`, opened without following a link and
/// checked on the opened descriptor (so it cannot be swapped after the
/// check): owned by this user, closed to others. Everything inside is
/// then opened relative to it.
fn private_parent(path: &Path) -> io::Result<(OwnedFd, &std::ffi::OsStr)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ));
    };
    let dir = rustix::fs::open(
        parent,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&dir)?;
    if stat.st_uid != rustix::process::geteuid().as_raw() || stat.st_mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user",
                parent.display()
            ),
        ));
    }
    Ok((dir, name))
}

fn open_in(dir: &OwnedFd, name: &std::ffi::OsStr, how: OFlags) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        how | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_planted_symlink_in_the_log_directory_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        prepare_dir(&logs).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let log = logs.join("python.log");
        symlink(&victim, &log).unwrap();
        let appended = logs.join("python.import.log");
        symlink(&victim, &appended).unwrap();

        std::io::Write::write_all(&mut create(&log).unwrap(), b"build output").unwrap();
        assert!(append(&appended).is_err(), "appending refuses the link");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&log).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "build output");
    }

    #[test]
    fn a_log_directory_open_to_others_or_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(prepare_dir(&open)
            .unwrap_err()
            .to_string()
            .contains("group or others"));

        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        symlink(&elsewhere, &link).unwrap();
        assert!(prepare_dir(&link)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));

        let made = dir.path().join("a/b/logs");
        prepare_dir(&made).unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_log_directory_swapped_for_an_open_one_after_the_check_is_refused_at_use() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        prepare_dir(&logs).unwrap();
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(create(&logs.join("x.log")).is_err());
        assert!(append(&logs.join("x.log")).is_err());
    }

    #[test]
    fn a_log_directory_owned_by_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("skipped: needs root to give a directory away");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
        assert!(matches!(
            prepare_dir(&theirs),
            Err(LogDirError::NotOurs { owner: 65534, .. })
        ));
    }
}
