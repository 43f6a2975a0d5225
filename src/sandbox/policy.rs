//! The security policy of every run's container, written out as podman flags.
//!
//! Read [`run_args`] top to bottom: it is the whole policy. Anything a
//! container may do that is not listed here comes from podman's defaults
//! (notably its default seccomp profile, which stays on).

use std::ffi::OsString;
use std::path::Path;

/// Where the runner is mounted inside every container.
pub const RUNNER_PATH: &str = "/usr/local/libexec/whipcode-runner";
/// Label naming the project on every container it starts.
pub const PROJECT_LABEL: &str = "whipcode.project=whipcode";
/// Label key naming the instance that owns a container.
pub const INSTANCE_LABEL: &str = "whipcode.instance";
/// The only writable place inside the container, and the working directory.
pub const WORKDIR: &str = "/tmp";

/// Resource limits of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Memory in MiB; swap is pinned to the same value (no swap use).
    pub memory_mb: u32,
    /// Most processes and threads at once (pids cgroup).
    pub pids: u32,
    /// Size of `/tmp` in MiB; also the largest file a program may write.
    pub tmp_mb: u32,
    /// CPU time per second of wall time, in thousandths of a CPU.
    pub cpu_millis: u32,
    /// Open file descriptors per process.
    pub nofile: u32,
    /// CPU seconds per process (RLIMIT_CPU): SIGXCPU at this, SIGKILL a second later.
    pub cpu_seconds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 512,
            pids: 64,
            tmp_mb: 64,
            cpu_millis: 1000,
            nofile: 256,
            cpu_seconds: 10,
        }
    }
}

impl Limits {
    /// These limits with a language's overrides applied.
    pub fn with_overrides(mut self, o: &crate::languages::Limits) -> Limits {
        if let Some(memory) = o.memory_mb {
            self.memory_mb = memory;
        }
        if let Some(pids) = o.pids {
            self.pids = pids;
        }
        if let Some(tmp) = o.tmp_mb {
            self.tmp_mb = tmp;
        }
        self
    }
}

/// Whether each run gets its own user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNamespace {
    /// The host's: uid 65534 inside is uid 65534 outside.
    Host,
    /// `--userns=auto`: a fresh range of host ids per container, taken from the
    /// `containers` entries of /etc/subuid and /etc/subgid; uid 65534 inside
    /// is an unused high id outside, root inside is not root outside.
    /// Opt-in: podman 4.3.1 was seen to deadlock when several such
    /// containers are created at once.
    Auto,
}

/// RLIMIT_NPROC counts every process of uid 65534 on the host, across all
/// runs, so it is set high and the per-container pids cgroup does the work.
const NPROC: u32 = 8192;

/// Everything that identifies one container.
pub struct Plan<'a> {
    pub name: &'a str,
    pub instance: &'a str,
    pub image: &'a str,
    pub runner: &'a Path,
    /// Where podman writes the container's id (a private directory of the server).
    pub cidfile: &'a Path,
    pub userns: UserNamespace,
    pub limits: Limits,
}

/// The `podman run` arguments for one run: the security policy.
pub fn run_args(plan: &Plan<'_>) -> Vec<OsString> {
    let l = &plan.limits;
    let mut runner_mount = OsString::from("type=bind,source=");
    runner_mount.push(plan.runner.as_os_str());
    runner_mount.push(format!(",destination={RUNNER_PATH},readonly=true"));

    let args: Vec<OsString> = [
        "run".into(),
        // One container per run, removed when it ends; the job arrives on stdin.
        "--rm".into(),
        "--interactive".into(),
        "--detach-keys=".into(), // stdin is data: no byte sequence may detach
        format!("--name={}", plan.name),
        format!("--label={PROJECT_LABEL}"),
        format!("--label={INSTANCE_LABEL}={}", plan.instance),
        // Local images only; never reach for a registry.
        "--pull=never".into(),
        // No network at all: only a loopback interface.
        "--network=none".into(),
        "--no-hosts".into(),
        "--hostname=sandbox".into(),
        // Unprivileged: user nobody, no capabilities, no privilege gain.
        "--user=65534:65534".into(),
        "--cap-drop=ALL".into(),
        "--security-opt=no-new-privileges".into(),
        match plan.userns {
            UserNamespace::Auto => "--userns=auto".into(),
            UserNamespace::Host => "--userns=host".into(),
        },
        // Read-only root; the only writable mount is a sized, exec-able /tmp.
        "--read-only".into(),
        "--read-only-tmpfs=false".into(),
        format!(
            "--tmpfs={WORKDIR}:rw,exec,nosuid,nodev,size={}m,mode=1777",
            l.tmp_mb
        ),
        "--shm-size=1m".into(),
        format!("--workdir={WORKDIR}"),
        // Host paths hidden: /sys masked, /proc shows only this run's processes.
        "--security-opt=mask=/sys:/proc/kcore:/proc/keys:/proc/timer_list:/proc/sched_debug:/proc/scsi".into(),
        "--security-opt=proc-opts=hidepid=2,subset=pid".into(),
        // Resources: memory with swap pinned to it, CPU, processes, files.
        format!("--memory={}m", l.memory_mb),
        format!("--memory-swap={}m", l.memory_mb),
        format!("--cpus={}.{:03}", l.cpu_millis / 1000, l.cpu_millis % 1000),
        format!("--pids-limit={}", l.pids),
        format!("--ulimit=nofile={0}:{0}", l.nofile),
        format!("--ulimit=nproc={NPROC}:{NPROC}"),
        format!("--ulimit=fsize={0}:{0}", u64::from(l.tmp_mb) * 1024 * 1024),
        format!("--ulimit=cpu={}:{}", l.cpu_seconds, l.cpu_seconds + 1),
        "--ulimit=core=0:0".into(),
        // The program's output reaches the server only through the runner's stream.
        "--log-driver=none".into(),
        // The static runner, read-only, is PID 1 and runs the job's steps.
        format!("--entrypoint={RUNNER_PATH}"),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();

    let mut all = args;
    let mut cidfile = OsString::from("--cidfile=");
    cidfile.push(plan.cidfile.as_os_str());
    all.push(cidfile);
    all.push("--mount".into());
    all.push(runner_mount);
    all.push(plan.image.into());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Vec<String> {
        run_args(&Plan {
            name: "whipcode-test-1",
            instance: "test",
            image: "localhost/whipcode-python:latest",
            runner: Path::new("/opt/whipcode/whipcode-runner"),
            cidfile: Path::new("/run/whipcode/cid/whipcode-test-1"),
            userns: UserNamespace::Auto,
            limits: Limits::default(),
        })
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect()
    }

    #[test]
    fn the_policy_has_every_hardening_flag() {
        let args = args();
        for flag in [
            "--network=none",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            "--user=65534:65534",
            "--read-only",
            "--read-only-tmpfs=false",
            "--pull=never",
            "--memory=512m",
            "--memory-swap=512m",
            "--pids-limit=64",
            "--security-opt=proc-opts=hidepid=2,subset=pid",
            "--detach-keys=",
            "--rm",
            "--ulimit=cpu=10:11",
            "--ulimit=core=0:0",
            "--cidfile=/run/whipcode/cid/whipcode-test-1",
            "--userns=auto",
        ] {
            assert!(args.iter().any(|a| a == flag), "missing {flag}");
        }
        assert!(args
            .iter()
            .any(|a| a.starts_with("--security-opt=mask=/sys")));
    }

    #[test]
    fn containers_carry_the_project_and_instance_labels_and_a_name() {
        let args = args();
        assert!(args.contains(&"--label=whipcode.project=whipcode".to_string()));
        assert!(args.contains(&"--label=whipcode.instance=test".to_string()));
        assert!(args.contains(&"--name=whipcode-test-1".to_string()));
    }

    #[test]
    fn the_image_comes_last_and_the_runner_is_read_only() {
        let args = args();
        assert_eq!(args.last().unwrap(), "localhost/whipcode-python:latest");
        assert!(args
            .iter()
            .any(|a| a.contains(RUNNER_PATH) && a.ends_with("readonly=true")));
    }

    #[test]
    fn language_overrides_replace_only_what_they_name() {
        let o = crate::languages::Limits {
            pids: Some(128),
            memory_mb: None,
            tmp_mb: Some(256),
        };
        let l = Limits::default().with_overrides(&o);
        assert_eq!((l.pids, l.memory_mb, l.tmp_mb), (128, 512, 256));
    }
}
