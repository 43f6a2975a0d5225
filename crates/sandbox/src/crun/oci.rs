//! The OCI runtime configuration (`config.json`) the crun engine writes for
//! each container: the same policy as podman's create spec in
//! [`crate::policy`], as podman itself turns that spec into an OCI
//! configuration for its runtime — the fields were taken from podman's
//! generated `config.json` for one of our containers, and a test keeps the
//! two engines' security fields equal. What podman adds and this leaves out:
//! its `/etc/hosts`, `/etc/hostname` and `/run/.containerenv` files (the
//! image's own are used) and `tmpcopyup` (the image has nothing in `/tmp`).

use std::path::Path;

use serde_json::{json, Value};

use crate::policy::{self, Plan, UserNamespace, ID_RANGE_SIZE, RUNNER_CAPABILITIES};

/// Where the runner is mounted inside a crun container: in a small tmpfs at
/// `/run` (root's, mode 0755), since the image's root is mounted read-only
/// and holds no mountpoint for it.
pub const RUNNER_PATH: &str = "/run/whipcode-runner";

use crate::policy::{CPU_PERIOD, MIB, NPROC};

/// Where a container goes on this host, beside its plan.
pub struct Placement<'a> {
    /// The image's root file system.
    pub rootfs: &'a Path,
    /// Its cgroup, an OCI `cgroupsPath`.
    pub cgroup: &'a str,
    /// The seccomp profile, already in OCI form.
    pub seccomp: &'a Value,
    /// A cgroup namespace of its own (on cgroup v2, as podman gives one there).
    pub cgroupns: bool,
    /// The same profile compiled to BPF, base64 (see [`super::bpf`]): crun
    /// loads it instead of compiling `seccomp`.
    pub seccomp_bpf: Option<&'a str>,
}

/// The annotation crun takes a precompiled filter from.
pub const SECCOMP_BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";

/// The container of `plan`, placed at `at`.
pub fn config(plan: &Plan<'_>, at: &Placement<'_>) -> Value {
    let l = &plan.limits;
    let memory = u64::from(l.memory_mb) * MIB;
    let file_size = u64::from(l.tmp_mb) * MIB;
    let rlimit =
        |kind: &str, soft: u64, hard: u64| json!({"type": kind, "soft": soft, "hard": hard});
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    let mut linux = json!({
        "resources": {
            "memory": {"limit": memory, "swap": memory},
            "cpu": {"quota": u64::from(l.cpu_millis) * CPU_PERIOD / 1000, "period": CPU_PERIOD},
            "pids": {"limit": l.pids},
            // No device but crun's defaults (null, zero, full, random,
            // urandom, tty, ptmx), whatever the image holds.
            "devices": [{"allow": false, "access": "rwm"}],
        },
        "cgroupsPath": at.cgroup,
        "maskedPaths": masked_paths(),
        "readonlyPaths": READONLY_PATHS,
        "seccomp": at.seccomp,
    });
    if at.cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    if let (UserNamespace::PerRun, Some(base)) = (plan.userns, plan.host_ids) {
        namespaces.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": base, "size": ID_RANGE_SIZE}]);
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0, "umask": 0o022, "additionalGids": [0]},
            "args": [RUNNER_PATH],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
                "container=crun",
                "HOSTNAME=sandbox",
                "HOME=/root",
            ],
            "cwd": policy::WORKDIR,
            "capabilities": {
                "bounding": RUNNER_CAPABILITIES,
                "effective": RUNNER_CAPABILITIES,
                "permitted": RUNNER_CAPABILITIES,
            },
            "rlimits": [
                rlimit("RLIMIT_NOFILE", l.nofile.into(), l.nofile.into()),
                rlimit("RLIMIT_NPROC", NPROC.into(), NPROC.into()),
                rlimit("RLIMIT_FSIZE", file_size, file_size),
                rlimit("RLIMIT_CPU", l.cpu_seconds.into(), u64::from(l.cpu_seconds) + 1),
                rlimit("RLIMIT_CORE", 0, 0),
            ],
            "noNewPrivileges": true,
            "oomScoreAdj": 1000,
        },
        "root": {"path": at.rootfs, "readonly": true},
        "hostname": "sandbox",
        "mounts": mounts(plan),
        "annotations": annotations(plan, at),
        "linux": linux,
    })
}

/// The container's labels, and the precompiled filter.
fn annotations(plan: &Plan<'_>, at: &Placement<'_>) -> serde_json::Map<String, Value> {
    let mut annotations = policy::labels(plan);
    if let Some(bpf) = at.seccomp_bpf {
        annotations.insert(SECCOMP_BPF_ANNOTATION.into(), bpf.into());
    }
    annotations
}

/// podman's mounts for our containers, plus `/run` for the runner.
fn mounts(plan: &Plan<'_>) -> Value {
    let tmp_size = format!("size={}m", plan.limits.tmp_mb);
    json!([
        {"destination": policy::WORKDIR, "type": "tmpfs", "source": "tmpfs",
         "options": ["rw", "exec", "nosuid", "nodev", tmp_size, "mode=1777", "rprivate"]},
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["hidepid=2", "subset=pid"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=1m"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "mode=755", "size=1m"]},
        {"destination": RUNNER_PATH, "type": "bind", "source": plan.runner,
         "options": ["ro", "nosuid", "nodev", "rprivate", "rbind"]},
    ])
}

/// podman's masked paths, then the policy's own.
fn masked_paths() -> Vec<&'static str> {
    const PODMAN: [&str; 11] = [
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/fs/selinux",
        "/sys/dev/block",
    ];
    let mut paths = PODMAN.to_vec();
    for path in policy::MASKED_PATHS {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The project's profile (Docker's format, see [`crate::seccomp`])
/// in OCI form, as podman converts it: this machine's architecture and its
/// sub-architectures, the rules as they are (no conditional rules are used).
pub fn seccomp(profile: &Value) -> Value {
    let native = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "SCMP_ARCH_X86_64",
    };
    let architectures: Vec<Value> = profile["archMap"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["architecture"] == native)
        .flat_map(|entry| {
            std::iter::once(entry["architecture"].clone()).chain(
                entry["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    let syscalls: Vec<Value> = profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| {
            let mut rule = rule.clone();
            // podman leaves out a zero second value (Go's omitempty).
            let args = rule.get_mut("args").and_then(Value::as_array_mut);
            for arg in args.into_iter().flatten() {
                if arg["valueTwo"] == 0 {
                    arg.as_object_mut().map(|a| a.remove("valueTwo"));
                }
            }
            rule
        })
        .collect();
    json!({
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": architectures,
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Limits;

    fn plan<'a>(owner: &'a [(&'static str, String)]) -> Plan<'a> {
        Plan {
            name: "whipcode-t-1",
            instance: "t",
            image: "localhost/whipcode-python:latest",
            runner: Path::new("/priv/whipcode-runner"),
            seccomp: Path::new("/priv/seccomp.json"),
            owner,
            userns: UserNamespace::PerRun,
            host_ids: Some(1_000_065_536),
            limits: Limits::default(),
        }
    }

    fn placed(seccomp: &Value) -> Placement<'_> {
        Placement {
            rootfs: Path::new("/root"),
            cgroup: "/whipcode/t/x",
            seccomp,
            cgroupns: false,
            seccomp_bpf: None,
        }
    }

    #[test]
    fn every_device_is_refused_but_crun_s_defaults() {
        let c = config(&plan(&[]), &placed(&json!({})));
        assert_eq!(
            c["linux"]["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
    }

    #[test]
    fn a_run_of_its_own_gets_a_user_namespace_mapped_to_its_range() {
        let c = config(&plan(&[]), &placed(&json!({})));
        let map = json!([{"containerID": 0, "hostID": 1_000_065_536u32, "size": 65536}]);
        assert_eq!(c["linux"]["uidMappings"], map);
        assert_eq!(c["linux"]["gidMappings"], map);
        assert!(c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "user"})));
        assert_eq!(c["annotations"]["whipcode.idrange"], "1000065536");
    }

    #[test]
    fn the_root_is_read_only_and_tmp_run_and_shm_are_the_only_tmpfs_the_program_sees() {
        let c = config(&plan(&[]), &placed(&json!({})));
        assert_eq!(c["root"]["readonly"], true);
        assert_eq!(c["process"]["noNewPrivileges"], true);
        let writable: Vec<&str> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "tmpfs" && m["destination"] != "/dev")
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(writable, ["/tmp", "/dev/shm", "/run"]);
    }

    #[test]
    fn the_oci_profile_is_this_architectures_with_the_same_rules() {
        let profile = crate::seccomp::profile();
        let oci = seccomp(&profile);
        assert_eq!(oci["defaultErrnoRet"], profile["defaultErrnoRet"]);
        assert_eq!(
            oci["syscalls"].as_array().unwrap().len(),
            profile["syscalls"].as_array().unwrap().len()
        );
        let plain = oci["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r.get("args").is_none());
        assert!(
            plain.is_some(),
            "a rule without conditions keeps none (not null)"
        );
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                oci["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
            );
        }
    }
}
