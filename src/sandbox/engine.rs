//! podman invocations other than the run itself, each with a deadline.
//!
//! Every podman process gets the project's own `containers.conf` (runc as the
//! runtime, explicit default ulimits, no log or event files), written at
//! startup into a private directory, so the host's podman setup is untouched.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Command;

use super::policy::{INSTANCE_LABEL, PROJECT_LABEL};

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

/// The arguments that list project images as JSON (blocking and async callers).
pub fn project_images_args() -> [String; 5] {
    [
        "images".into(),
        "--filter".into(),
        format!("reference={}*", crate::languages::IMAGE_PREFIX),
        "--format".into(),
        "json".into(),
    ]
}

/// Parses `podman images --format json` into one entry per image name.
pub fn parse_images(text: &str) -> Result<Vec<ListedImage>, String> {
    #[derive(serde::Deserialize)]
    struct Listed {
        #[serde(rename = "Names", default)]
        names: Option<Vec<String>>,
        #[serde(rename = "Labels", default)]
        labels: Option<HashMap<String, String>>,
        #[serde(rename = "Size", default)]
        size: u64,
    }
    let listed: Vec<Listed> = serde_json::from_str(text.trim())
        .map_err(|e| format!("podman images printed unexpected JSON: {e}"))?;
    Ok(listed
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
        .collect())
}

/// Deadline of one housekeeping podman call.
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// Attempts at removing one container before giving up (and logging it).
const REMOVE_ATTEMPTS: u32 = 3;

/// A handle on podman: its binary, the project's config, and the names of
/// containers this process is running right now.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    podman: PathBuf,
    conf_dir: tempfile::TempDir,
    live: Mutex<HashSet<String>>,
}

impl Engine {
    pub fn new(podman: &Path) -> std::io::Result<Engine> {
        let conf_dir = tempfile::Builder::new()
            .prefix("whipcode-podman-")
            .tempdir()?;
        std::fs::write(conf_dir.path().join("containers.conf"), CONTAINERS_CONF)?;
        let wrapper = match CONMON_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
            Some(conmon) => {
                let path = conf_dir.path().join("conmon");
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
            conf_dir.path().join("service.conf"),
            service_conf(wrapper.as_deref()),
        )?;
        Ok(Engine {
            inner: Arc::new(Inner {
                podman: podman.to_owned(),
                conf_dir,
                live: Mutex::new(HashSet::new()),
            }),
        })
    }

    pub fn conf_path(&self) -> PathBuf {
        self.inner.conf_dir.path().join("containers.conf")
    }

    /// The REST API service's configuration file.
    pub fn service_conf_path(&self) -> PathBuf {
        self.inner.conf_dir.path().join("service.conf")
    }

    /// The REST API service's socket: in a directory only this process uses
    /// (mode 0700), so no other user can reach it.
    pub fn service_socket(&self) -> PathBuf {
        self.inner.conf_dir.path().join("podman.sock")
    }

    pub fn podman_path(&self) -> &Path {
        &self.inner.podman
    }

    /// A podman command with the project's configuration.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.inner.podman);
        cmd.env("CONTAINERS_CONF", self.conf_path())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Same as [`Engine::command`], for blocking callers (image builds).
    pub fn std_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.inner.podman);
        cmd.env("CONTAINERS_CONF", self.conf_path());
        cmd
    }

    /// Runs podman with `args` within the deadline; stdout on success.
    pub async fn call(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = self.command();
        cmd.args(args);
        let output = tokio::time::timeout(CALL_DEADLINE, cmd.output())
            .await
            .map_err(|_| format!("podman {} timed out", args.join(" ")))?
            .map_err(|e| format!("cannot run {}: {e}", self.inner.podman.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "podman {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Kills and removes a container by name; retried, and logged if it never goes.
    pub async fn remove(&self, name: &str) {
        for attempt in 1..=REMOVE_ATTEMPTS {
            match self
                .call(&["rm", "--force", "--ignore", "--time=0", name])
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(container = name, attempt, error = %e, "container removal failed");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
        tracing::error!(
            container = name,
            "container could not be removed; the periodic sweep will retry"
        );
    }

    /// Names of every container (running or not) labelled with this instance.
    pub async fn instance_containers(&self, instance: &str) -> Result<Vec<String>, String> {
        let project = format!("label={PROJECT_LABEL}");
        let owner = format!("label={INSTANCE_LABEL}={instance}");
        let out = self
            .call(&[
                "ps",
                "--all",
                "--filter",
                &project,
                "--filter",
                &owner,
                "--format",
                "{{.Names}}",
            ])
            .await?;
        Ok(out
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// Images named `localhost/whipcode-*`, one entry per name.
    pub async fn project_images(&self) -> Result<Vec<ListedImage>, String> {
        let args = project_images_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.call(&args).await?;
        parse_images(&out)
    }

    pub fn mark_live(&self, name: &str) {
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(name.to_owned());
        }
    }

    pub fn mark_gone(&self, name: &str) {
        if let Ok(mut live) = self.inner.live.lock() {
            live.remove(name);
        }
    }

    pub fn is_live(&self, name: &str) -> bool {
        self.inner
            .live
            .lock()
            .map(|live| live.contains(name))
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
