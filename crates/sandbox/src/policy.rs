//! The security policy of every run's container, as podman's REST API takes it.
//!
//! Read [`container_spec`] top to bottom: it is the whole policy. Anything a
//! container may do that is not listed here comes from podman's defaults
//! (notably its default seccomp profile, which stays on).

use std::path::Path;

use serde_json::{json, Value};

use crate::naming::{ID_RANGE_LABEL, INSTANCE_LABEL, PROJECT_LABEL_KEY, PROJECT_LABEL_VALUE};

/// Host ids a container with its own user namespace gets (uids and gids).
pub const ID_RANGE_SIZE: u32 = 65536;

/// Where the runner is mounted inside every podman container (crun's:
/// [`super::crun::oci::RUNNER_PATH`]).
pub const RUNNER_PATH: &str = "/usr/local/libexec/whipcode-runner";
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

/// The least memory a stage may be given, in MiB: room for the runner and
/// the start of a small program (below it, a limit cannot be told apart
/// from a broken sandbox).
pub const MEMORY_FLOOR_MB: u64 = 16;

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

/// Per-language overrides of the sandbox's resource limits (a language
/// map's entry fills it; the sandbox applies it with [`Limits::with_overrides`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Process count limit (pids cgroup).
    pub pids: Option<u32>,
    /// Memory limit in MiB (swap pinned to the same).
    pub memory_mb: Option<u32>,
    /// Size of the writable /tmp in MiB.
    pub tmp_mb: Option<u32>,
}

impl Limits {
    /// These limits with a language's overrides applied.
    pub fn with_overrides(mut self, o: &LimitOverrides) -> Limits {
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
    /// The default: a user namespace per container with its own range of
    /// host ids (see [`super::idrange`]), none shared with another live
    /// container on the host; root and 65534 inside are unused ids outside.
    PerRun,
    /// The host's: uid 65534 inside is uid 65534 outside, shared by every run,
    /// and the runner, root inside, is the host's root with only
    /// [`RUNNER_CAPABILITIES`].
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
pub const NPROC: u32 = 8192;

/// What the runner (PID 1) keeps, all of them bounded to the container's
/// own user namespace (with the default per-run namespace, never the
/// host's). Every step it starts runs as [`whipcode_runner::PROGRAM_ID`]
/// and holds none: the change of uid from root clears them, and
/// `no_new_privileges` keeps exec from giving any back.
pub const RUNNER_CAPABILITIES: [&str; 7] = [
    // Start each step as the program's user and group, with no groups.
    "CAP_SETUID",
    "CAP_SETGID",
    // Signal the step's process group (a client's signal, a timeout) and,
    // between two runs of one submission, end every process left behind.
    "CAP_KILL",
    // Hand the files it writes (the job's, and a restored working
    // directory) to the program's user.
    "CAP_CHOWN",
    // Between runs: read, empty and restore a working directory the
    // program may have locked with chmod, in the sticky /tmp.
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    // Empty the bounding set at its start, so that no step (each holds
    // none) could regain one through an exec.
    "CAP_SETPCAP",
];

/// Everything that identifies one container.
pub struct Plan<'a> {
    pub name: &'a str,
    pub instance: &'a str,
    pub image: &'a str,
    /// The runner as the container sees it: a root-owned copy, mode 0711.
    pub runner: &'a Path,
    /// The project's seccomp profile (see [`super::seccomp`]), as a file.
    pub seccomp: &'a Path,
    /// Labels naming the server process that owns the container.
    pub owner: &'a [(&'static str, String)],
    pub userns: UserNamespace,
    /// With [`UserNamespace::PerRun`]: the first host id of the container's range.
    pub host_ids: Option<u32>,
    pub limits: Limits,
}

pub const MIB: u64 = 1024 * 1024;
/// The CPU period (microseconds) the CPU quota is a share of.
pub const CPU_PERIOD: u64 = 100_000;

/// The container one run gets, as podman's REST API takes it (libpod's
/// `SpecGenerator`): the security policy.
pub fn container_spec(plan: &Plan<'_>) -> Value {
    let l = &plan.limits;
    let memory = u64::from(l.memory_mb) * MIB;
    let rlimit =
        |kind: &str, soft: u64, hard: u64| json!({"type": kind, "soft": soft, "hard": hard});
    let labels = labels(plan);
    let id_map = |base: u32| json!([{"container_id": 0, "host_id": base, "size": ID_RANGE_SIZE}]);
    json!({
        "name": plan.name,
        "labels": labels,
        // Local images only: creating from a missing image fails, never pulls.
        "image": plan.image,
        // The static runner, read-only, is PID 1; it waits for one job on
        // stdin and runs its steps. It is mounted from a root-owned copy the
        // program may execute but not read, and marks itself not dumpable:
        // its /proc/1/fd and /proc/1/mem are closed to the program. The container serves that run only and is
        // removed by the service, which kills it at once (no stop grace).
        "entrypoint": [RUNNER_PATH],
        "command": [],
        "mounts": [
            {
                "destination": RUNNER_PATH,
                "type": "bind",
                "source": plan.runner,
                "options": ["ro", "nosuid", "nodev"],
            },
            // Read-only root; the only writable mount is a sized, exec-able /tmp.
            {
                "destination": WORKDIR,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["rw", "exec", "nosuid", "nodev", format!("size={}m", l.tmp_mb), "mode=1777"],
            },
        ],
        "read_only_filesystem": true,
        "shm_size": MIB,
        "work_dir": WORKDIR,
        "stdin": true,
        "terminal": false,
        "remove": false,
        "stop_timeout": 0,
        // No network at all: only a loopback interface; no host names.
        "netns": {"nsmode": "none"},
        "use_image_hosts": true,
        "hostname": "sandbox",
        // Two users: the runner is root of the container's user namespace
        // with only the capabilities it needs; every step it starts is
        // nobody (65534) with none, so the program cannot signal the
        // runner or change its limits, priority or affinity (the kernel
        // allows those on another user's process only with capabilities).
        // No privilege gain for either.
        "user": "0:0",
        "cap_drop": ["ALL"],
        "cap_add": RUNNER_CAPABILITIES,
        "no_new_privileges": true,
        // Its own user namespace: ids 0..65536 inside are the container's
        // range of host ids, recorded in a label (or "auto": podman picks).
        "userns": {"nsmode": match (plan.userns, plan.host_ids) {
            (UserNamespace::Auto, _) => "auto",
            (UserNamespace::PerRun, Some(_)) => "private",
            _ => "host",
        }},
        "idmappings": match (plan.userns, plan.host_ids) {
            // The whole range: podman would size it by the image's files and
            // the spec's user (root), leaving the program's 65534 unmapped.
            (UserNamespace::Auto, _) => json!({"AutoUserNs": true, "AutoUserNsOpts": {"Size": ID_RANGE_SIZE}}),
            (UserNamespace::PerRun, Some(base)) => json!({"UIDMap": id_map(base), "GIDMap": id_map(base)}),
            _ => Value::Null,
        },
        // A host-wide OOM kills a run before the server or podman.
        "oom_score_adj": 1000,
        // The project's own seccomp profile instead of podman's default:
        // no namespaces, mounts, keyrings, BPF, perf, io_uring or ptrace.
        "seccomp_policy": "default",
        "seccomp_profile_path": plan.seccomp,
        // Host paths hidden: /sys masked, /proc shows only this run's processes.
        "mask": MASKED_PATHS,
        "procfs_opts": ["hidepid=2", "subset=pid"],
        // Resources: memory with swap pinned to it, CPU, processes, files.
        "resource_limits": {
            "memory": {"limit": memory, "swap": memory},
            "cpu": {"quota": u64::from(l.cpu_millis) * CPU_PERIOD / 1000, "period": CPU_PERIOD},
            "pids": {"limit": l.pids},
        },
        "r_limits": [
            rlimit("nofile", l.nofile.into(), l.nofile.into()),
            rlimit("nproc", NPROC.into(), NPROC.into()),
            rlimit("fsize", u64::from(l.tmp_mb) * MIB, u64::from(l.tmp_mb) * MIB),
            rlimit("cpu", l.cpu_seconds.into(), u64::from(l.cpu_seconds) + 1),
            rlimit("core", 0, 0),
        ],
        // The program's output reaches the server only through the runner's stream.
        "log_configuration": {"driver": "none"},
    })
}

/// A container's labels: the project, its instance, its owner and its
/// host id range. Any instance's sweep reads them.
pub fn labels(plan: &Plan<'_>) -> serde_json::Map<String, Value> {
    let mut labels = serde_json::Map::new();
    labels.insert(PROJECT_LABEL_KEY.into(), PROJECT_LABEL_VALUE.into());
    labels.insert(INSTANCE_LABEL.into(), plan.instance.into());
    for (key, value) in plan.owner {
        labels.insert((*key).into(), value.clone().into());
    }
    if let Some(base) = plan.host_ids {
        labels.insert(ID_RANGE_LABEL.into(), base.to_string().into());
    }
    labels
}

/// Paths hidden from the container, beyond podman's defaults.
pub const MASKED_PATHS: [&str; 6] = [
    "/sys",
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/scsi",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Value {
        container_spec(&Plan {
            name: "whipcode-test-1",
            instance: "test",
            image: "localhost/whipcode-python:latest",
            runner: Path::new("/opt/whipcode/whipcode-runner"),
            seccomp: Path::new("/run/whipcode/seccomp.json"),
            owner: &[("whipcode.owner.pid", "42".to_owned())],
            userns: UserNamespace::Auto,
            host_ids: None,
            limits: Limits::default(),
        })
    }

    #[test]
    fn a_run_of_its_own_maps_its_ids_to_its_range_and_labels_it() {
        let s = container_spec(&Plan {
            name: "whipcode-test-2",
            instance: "test",
            image: "localhost/whipcode-python:latest",
            runner: Path::new("/r"),
            seccomp: Path::new("/s"),
            owner: &[],
            userns: UserNamespace::PerRun,
            host_ids: Some(1_000_065_536),
            limits: Limits::default(),
        });
        assert_eq!(s["userns"]["nsmode"], "private");
        let map = json!([{"container_id": 0, "host_id": 1_000_065_536u32, "size": 65536}]);
        assert_eq!(s["idmappings"]["UIDMap"], map);
        assert_eq!(s["idmappings"]["GIDMap"], map);
        assert_eq!(s["labels"][ID_RANGE_LABEL], "1000065536");
        assert_eq!(s["oom_score_adj"], 1000);
    }

    #[test]
    fn the_projects_seccomp_profile_and_the_owner_are_in_every_spec() {
        let s = spec();
        assert_eq!(s["seccomp_profile_path"], "/run/whipcode/seccomp.json");
        assert_eq!(s["labels"]["whipcode.owner.pid"], "42");
    }

    #[test]
    fn the_policy_has_every_hardening_setting() {
        let s = spec();
        assert_eq!(s["netns"]["nsmode"], "none");
        assert_eq!(s["cap_drop"], json!(["ALL"]));
        assert_eq!(s["cap_add"], json!(RUNNER_CAPABILITIES));
        assert_eq!(s["no_new_privileges"], true);
        assert_eq!(s["user"], "0:0");
        assert_eq!(s["read_only_filesystem"], true);
        assert_eq!(s["userns"]["nsmode"], "auto");
        assert_eq!(s["idmappings"]["AutoUserNs"], true);
        assert_eq!(s["procfs_opts"], json!(["hidepid=2", "subset=pid"]));
        assert_eq!(s["mask"][0], "/sys");
        assert_eq!(s["resource_limits"]["memory"]["limit"], 512 * MIB);
        assert_eq!(s["resource_limits"]["memory"]["swap"], 512 * MIB);
        assert_eq!(s["resource_limits"]["pids"]["limit"], 64);
        assert_eq!(s["resource_limits"]["cpu"]["quota"], 100_000);
        assert_eq!(s["log_configuration"]["driver"], "none");
        assert_eq!(s["stop_timeout"], 0);
        let rlimits = s["r_limits"].as_array().unwrap();
        assert!(rlimits.contains(&json!({"type": "cpu", "soft": 10, "hard": 11})));
        assert!(rlimits.contains(&json!({"type": "core", "soft": 0, "hard": 0})));
    }

    #[test]
    fn containers_carry_the_project_and_instance_labels_and_a_name() {
        let s = spec();
        assert_eq!(s["labels"]["whipcode.project"], "whipcode");
        assert_eq!(s["labels"]["whipcode.instance"], "test");
        assert_eq!(s["name"], "whipcode-test-1");
    }

    #[test]
    fn the_runner_is_pid_1_and_read_only_and_tmp_is_the_only_writable_mount() {
        let s = spec();
        assert_eq!(s["entrypoint"], json!([RUNNER_PATH]));
        let mounts = s["mounts"].as_array().unwrap();
        let runner = mounts
            .iter()
            .find(|m| m["destination"] == RUNNER_PATH)
            .unwrap();
        assert!(runner["options"].as_array().unwrap().contains(&json!("ro")));
        let writable: Vec<_> = mounts
            .iter()
            .filter(|m| m["options"].as_array().unwrap().contains(&json!("rw")))
            .collect();
        assert_eq!(writable.len(), 1);
        assert_eq!(writable[0]["destination"], WORKDIR);
        assert!(writable[0]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=64m")));
    }

    #[test]
    fn language_overrides_replace_only_what_they_name() {
        let o = LimitOverrides {
            pids: Some(128),
            memory_mb: None,
            tmp_mb: Some(256),
        };
        let l = Limits::default().with_overrides(&o);
        assert_eq!((l.pids, l.memory_mb, l.tmp_mb), (128, 512, 256));
    }
}
