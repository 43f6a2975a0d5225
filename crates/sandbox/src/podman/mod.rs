//! podman as this process uses it: the project's own configuration, written
//! at startup into a private directory (so the host's podman setup is
//! untouched), and the listing format its CLI and its REST API share.
//!
//! - [`api`]: the REST client (libpod) on the service's socket, every call with a deadline.
//! - [`service`]: the supervised `podman system service` behind that socket.
//! - [`engine`]: the podman engine: containers through the REST service.
//! - [`cli`]: what still needs the CLI: image builds.

pub mod api;
pub mod cli;
pub mod engine;
pub mod service;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::owner::Owner;

/// The project's podman configuration. crun does not work on cgroup-v1
/// hybrid hosts and podman's default ulimits exceed some hosts' hard limits.
pub const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=8192:8192"]
log_driver = "none"

[engine]
runtime = "runc"
events_logger = "none"
"#;

/// conmon as the REST API service starts it: podman's own conmon without the
/// per-container exit command. That command is a second podman process per
/// container (~45 ms of CPU here) that cleans up after the container exits;
/// this service removes every container itself, right after its run.
const CONMON_WRAPPER: &str = r#"#!/bin/sh
# whipcode: conmon without podman's per-container exit command.
n=$#
skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0
  elif [ "$a" = --exit-command ] || [ "$a" = --exit-command-arg ]; then skip=1
  else set -- "$@" "$a"
  fi
done
shift "$n"
exec CONMON "$@"
"#;

/// Where distributions install conmon.
const CONMON_PATHS: [&str; 5] = [
    "/usr/libexec/podman/conmon",
    "/usr/local/libexec/podman/conmon",
    "/usr/bin/conmon",
    "/usr/sbin/conmon",
    "/usr/local/bin/conmon",
];

/// The REST API service's configuration: the project's, plus the conmon
/// wrapper when conmon is found.
fn service_conf(wrapper: Option<&Path>) -> String {
    match wrapper {
        Some(path) => CONTAINERS_CONF.replace(
            "[engine]\n",
            &format!("[engine]\nconmon_path = [\"{}\"]\n", path.display()),
        ),
        None => CONTAINERS_CONF.to_owned(),
    }
}

/// One name of a project image, as `podman images --format json` lists it.
#[derive(Debug, Clone)]
pub struct ListedImage {
    pub reference: String,
    pub labels: HashMap<String, String>,
    /// Bytes, counting layers shared with other images.
    pub size: u64,
}

/// Parses an image listing (`podman images --format json`, or the REST
/// API's `GET /images/json`: the same fields) into one entry per image name.
pub fn parse_images(text: &str) -> Result<Vec<ListedImage>, String> {
    serde_json::from_str(text.trim())
        .map(one_per_name)
        .map_err(|e| format!("podman images printed unexpected JSON: {e}"))
}

/// The same listing, already parsed as JSON (the REST API's answer).
pub fn images_from_json(value: serde_json::Value) -> Result<Vec<ListedImage>, String> {
    serde_json::from_value(value)
        .map(one_per_name)
        .map_err(|e| format!("podman listed images as unexpected JSON: {e}"))
}

/// One image as podman lists it.
#[derive(serde::Deserialize)]
struct Listed {
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
    #[serde(rename = "Size", default)]
    size: u64,
}

fn one_per_name(listed: Vec<Listed>) -> Vec<ListedImage> {
    listed
        .into_iter()
        .flat_map(|image| {
            let labels = image.labels.unwrap_or_default();
            let size = image.size;
            image
                .names
                .unwrap_or_default()
                .into_iter()
                .map(move |reference| ListedImage {
                    reference,
                    labels: labels.clone(),
                    size,
                })
        })
        .collect()
}

/// podman's binary and the project's configuration files for it, in a
/// directory only this process writes (root's, mode 0755: the runner's
/// sealed copy is mounted from it into each container; the socket and the
/// conmon wrapper in it are root's alone), removed when the last
/// handle goes.
#[derive(Debug, Clone)]
pub struct Podman {
    files: Arc<Files>,
}

/// The binary and the private directory of configuration files.
#[derive(Debug)]
struct Files {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Podman {
    /// Writes the configuration (and the conmon wrapper, when conmon is found),
    /// after removing the directories of servers that died without removing
    /// their own (a `kill -9`).
    pub fn new(binary: &Path) -> std::io::Result<Podman> {
        sweep_dead_dirs(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(PRIVATE_DIR_PREFIX)
            .tempdir()?;
        std::fs::write(dir.path().join(OWNER_FILE), Owner::current().to_line())?;
        std::fs::write(dir.path().join("containers.conf"), CONTAINERS_CONF)?;
        let wrapper = match CONMON_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
            Some(conmon) => {
                let path = dir.path().join("conmon");
                let script = CONMON_WRAPPER.replace("CONMON", &conmon.display().to_string());
                std::fs::write(&path, script)?;
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )?;
                Some(path)
            }
            None => None,
        };
        std::fs::write(
            dir.path().join("service.conf"),
            service_conf(wrapper.as_deref()),
        )?;
        Ok(Podman {
            files: Arc::new(Files {
                binary: binary.to_owned(),
                dir,
            }),
        })
    }

    pub fn binary(&self) -> &Path {
        &self.files.binary
    }

    /// The configuration of CLI calls (`CONTAINERS_CONF`).
    pub fn conf_path(&self) -> PathBuf {
        self.files.dir.path().join("containers.conf")
    }

    /// The REST API service's configuration file.
    pub fn service_conf_path(&self) -> PathBuf {
        self.files.dir.path().join("service.conf")
    }

    /// The private directory (writable by root only) this process keeps its files in.
    pub fn private_dir(&self) -> &Path {
        self.files.dir.path()
    }

    /// The REST API service's socket, in the private directory, so no other
    /// user can reach it.
    pub fn service_socket(&self) -> PathBuf {
        self.files.dir.path().join("podman.sock")
    }
}

/// How the private directories are named, in the temporary directory.
const PRIVATE_DIR_PREFIX: &str = "whipcode-podman-";

/// The file in a private directory naming the server it belongs to.
const OWNER_FILE: &str = "owner";

/// Removes the private directories under `root` whose server is gone. Only
/// a real directory of this user's that no one else may write to is read,
/// and in it only a small regular file: another user's look-alike, a link
/// or a FIFO named `owner` is never opened. One without an owner file (of an older
/// version, or still being written) is left alone.
fn sweep_dead_dirs(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        let named = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PRIVATE_DIR_PREFIX));
        let private = named
            && std::fs::symlink_metadata(entry.path())
                .is_ok_and(|m| m.is_dir() && m.uid() == me && m.mode() & 0o022 == 0);
        if !private {
            continue;
        }
        let owner_file = entry.path().join(OWNER_FILE);
        let small_file = std::fs::symlink_metadata(&owner_file)
            .is_ok_and(|m| m.file_type().is_file() && m.len() <= 256);
        let owner = small_file
            .then(|| std::fs::read_to_string(&owner_file).ok())
            .flatten()
            .and_then(|line| Owner::from_line(&line));
        if owner.is_some_and(|o| !o.is_alive()) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(dir = %entry.path().display(), "removed a dead server's private directory")
                }
                Err(e) => {
                    tracing::warn!(dir = %entry.path().display(), error = %e, "cannot remove a dead server's private directory")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_directories_of_dead_servers_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: Option<String>| {
            use std::os::unix::fs::PermissionsExt;
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::write(dir.join("seccomp.json"), "{}").unwrap();
            if let Some(line) = owner {
                std::fs::write(dir.join(OWNER_FILE), line).unwrap();
            }
        };
        make(
            "whipcode-podman-dead",
            Some("1 1 a-boot-long-gone\n".into()),
        );
        make("whipcode-podman-live", Some(Owner::current().to_line()));
        make("whipcode-podman-older", None);
        make("someone-elses", Some("1 1 a-boot-long-gone\n".into()));
        // Writable by others: not made by a server, so never read.
        make(
            "whipcode-podman-open",
            Some("1 1 a-boot-long-gone\n".into()),
        );
        std::fs::set_permissions(
            root.path().join("whipcode-podman-open"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        sweep_dead_dirs(root.path());
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "someone-elses",
                "whipcode-podman-live",
                "whipcode-podman-older",
                "whipcode-podman-open"
            ]
        );
    }

    #[test]
    fn the_service_conf_names_the_conmon_wrapper_and_keeps_runc() {
        let conf = service_conf(Some(Path::new("/run/x/conmon")));
        assert!(conf.contains("[engine]\nconmon_path = [\"/run/x/conmon\"]\n"));
        assert!(conf.contains("runtime = \"runc\""));
        assert_eq!(service_conf(None), CONTAINERS_CONF);
    }

    #[test]
    fn the_conmon_wrapper_drops_only_the_exit_command() {
        let dir = tempfile::tempdir().unwrap();
        let script = CONMON_WRAPPER.replace("CONMON", "printf '%s\\n'");
        let path = dir.path().join("conmon");
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new("sh")
            .arg(&path)
            .args(["--cid", "abc", "--exit-command", "/usr/bin/podman"])
            .args(["--exit-command-arg", "--root", "--exit-command-arg", "x y"])
            .args(["--log-level", "warning", "--", "a b"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "--cid\nabc\n--log-level\nwarning\n--\na b\n"
        );
    }

    #[test]
    fn image_listings_give_one_entry_per_name_with_labels_and_bytes() {
        let text = r#"[{"Names":["localhost/whipcode-c:latest","localhost/whipcode-gcc:latest"],
            "Labels":{"whipcode.version":"gcc 12"},"Size":415308090},
            {"Names":null,"Labels":null,"Size":5}]"#;
        let listed = parse_images(text).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].reference, "localhost/whipcode-gcc:latest");
        assert_eq!(listed[0].labels["whipcode.version"], "gcc 12");
        assert_eq!(listed[0].size, 415_308_090);
        assert!(parse_images("not json").is_err());
    }
}
